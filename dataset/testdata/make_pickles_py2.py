# Writes cifar_py2_proto{0,1,2}.pkl: what Python 2's cPickle.dump writes for a
# CIFAR-10 python batch (a dict with a numpy uint8 "data" array, a "labels"
# list, "batch_label" and "filenames"), with 3 records.
#
# Run with Python 2.7 (checked with 2.7.18):  python2 make_pickles_py2.py
#
# Python 2 numpy is not installable here, so a stand-in numpy module defines
# just ndarray, dtype and numpy.core.multiarray._reconstruct, whose
# __reduce__ results are those of numpy 1.x (numpy/core/src/multiarray:
# array_reduce in methods.c, arraydescr_reduce in descriptor.c). cPickle
# turns those into opcodes itself, so the stream is the one real numpy gives.
import cPickle
import sys
import types

numpy = types.ModuleType('numpy')
core = types.ModuleType('numpy.core')
multiarray = types.ModuleType('numpy.core.multiarray')


def _reconstruct(cls, shape, typecode):
    raise NotImplementedError


class dtype(object):
    def __init__(self, name, align=0, copy=1):
        self.name = name

    def __reduce__(self):
        return (dtype, (self.name, 0, 1), (3, '|', None, None, None, -1, -1, 0))


class ndarray(object):
    def __init__(self, shape, data):
        self.shape, self.data = shape, data

    def __reduce__(self):
        return (_reconstruct, (ndarray, (0,), 'b'), (1, self.shape, dtype('u1'), False, self.data))


_reconstruct.__module__ = 'numpy.core.multiarray'
dtype.__module__ = ndarray.__module__ = 'numpy'
numpy.dtype, numpy.ndarray, numpy.core = dtype, ndarray, core
multiarray._reconstruct, core.multiarray = _reconstruct, multiarray
sys.modules.update({'numpy': numpy, 'numpy.core': core, 'numpy.core.multiarray': multiarray})

n = 3
data = ''.join(chr((i * 37 + 11) % 256) for i in range(n * 3072))
batch = {'batch_label': 'testing batch 1 of 1', 'labels': [3, 8, 0],
         'data': ndarray((n, 3072), data), 'filenames': ['a.png', 'b.png', 'c.png']}
for proto in (0, 1, 2):
    with open('cifar_py2_proto%d.pkl' % proto, 'wb') as f:
        cPickle.dump(batch, f, proto)
