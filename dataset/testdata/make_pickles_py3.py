# Writes cifar_py3_*.pkl: CIFAR-10-style python batches pickled by Python 3
# with real numpy (checked with Python 3.11 and Debian's numpy 1.24.2), 2
# records each, in the protocols a re-pickled copy of the data set may use.
#
# Run:  python3 make_pickles_py3.py
import pickle

import numpy as np

n = 2
data = ((np.arange(n * 3072) * 37 + 11) % 256).astype(np.uint8).reshape(n, 3072)
labels = [9, 1]
for proto in (0, 2, 4, 5):
    batch = {b'batch_label': b'testing batch 1 of 1', b'labels': labels, b'data': data}
    with open('cifar_py3_proto%d.pkl' % proto, 'wb') as f:
        pickle.dump(batch, f, protocol=proto)
# Labels as an int64 array instead of a list, and text keys.
with open('cifar_py3_arraylabels.pkl', 'wb') as f:
    pickle.dump({'data': data, 'labels': np.array(labels, dtype=np.int64)}, f, protocol=4)
