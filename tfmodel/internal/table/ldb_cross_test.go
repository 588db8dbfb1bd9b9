package table

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"confrobust/tfmodel/internal/ldb"
)

// TestAgainstGoLevelDB checks this package against an independent
// implementation, goleveldb's leveldb/table (through internal/ldb): both read
// TensorFlow's fixtures the same, and each reads what the other writes.
// (The bundle reader uses this package rather than goleveldb because
// goleveldb allocates a block handle's length unchecked: a 112-byte index
// whose metaindex handle claims 1 TiB makes it fail with a fatal out-of-memory
// error that no recover catches, see TestHugeBlockHandle.)
func TestAgainstGoLevelDB(t *testing.T) {
	var inputs [][]byte
	for _, tt := range fixtureTests {
		data, err := os.ReadFile(filepath.Join(fixtures, tt.dir, "variables.index"))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, data)
	}
	// Many entries: several 4 KiB goleveldb blocks, one 256 KiB block of ours.
	var ours, theirs bytes.Buffer
	w, lw := NewWriter(&ours), ldb.NewWriter(&theirs)
	for i := range 2000 {
		k, v := []byte(fmt.Sprintf("unit_%04d/DW", i)), bytes.Repeat([]byte{byte(i)}, i%50)
		if err := w.Add(k, v); err != nil {
			t.Fatal(err)
		}
		if err := lw.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, ours.Bytes(), theirs.Bytes())
	for i, data := range inputs {
		got, err := readAll(t, data)
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		r, err := ldb.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("input %d: goleveldb: %v", i, err)
		}
		var want []kv
		err = r.Scan(func(k, v []byte) error {
			want = append(want, kv{string(k), string(v)})
			return nil
		})
		if err != nil {
			t.Fatalf("input %d: goleveldb: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("input %d: %d entries, goleveldb reads %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("input %d: entry %d is %q, goleveldb reads %q", i, j, got[j].k, want[j].k)
			}
		}
	}
}
