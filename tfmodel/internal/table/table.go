// Package table reads and writes LevelDB tables (sorted string tables), the
// format of a TensorFlow tensor bundle's .index file.
//
// A Reader checks the footer and reads the index block when it is created, and
// reads data blocks when Scan asks for them:
//
//	r, err := table.NewReader(f, size)
//	if err != nil { ... }
//	err = r.Scan(func(key, value []byte) error {
//		// key and value are valid only during this call.
//		return nil
//	})
//
// A Writer takes keys in strictly increasing byte order:
//
//	w := table.NewWriter(f)
//	w.Add([]byte("a"), []byte("1"))
//	w.Add([]byte("b"), []byte("2"))
//	err := w.Close() // writes the index block and the footer
//
// The Writer never compresses; the Reader reads uncompressed and
// Snappy-compressed blocks. Neither is safe for concurrent use.
package table

import "errors"

/*
The table file layout, as in LevelDB's doc/table_format.md:

	[data block 0]
	...
	[data block N-1]
	[metaindex block]
	[index block]
	[footer]

Each block is followed by a 5-byte trailer: a 1-byte compression type (0 none,
1 Snappy) and a 4-byte little-endian masked CRC-32C of the block contents and
the type byte. A block handle, the position of a block, is two uvarints:
offset and length (the length excludes the trailer).

The footer is exactly 48 bytes long: the metaindex block handle, the index
block handle, zero padding up to byte 40, and the 8-byte magic number
0xdb4775248b80fb57 in little-endian order.

A block holds entries followed by a restart array. An entry is

	uvarint shared       bytes shared with the previous key
	uvarint unshared     length of the rest of the key
	uvarint valueLen
	[unshared]byte       the rest of the key
	[valueLen]byte       the value

and every restartInterval-th entry (a restart point) shares nothing. The
restart array is the uint32 little-endian offsets of the restart points
followed by their uint32 count.

The index block has one entry per data block: a key >= the data block's last
key and < the next block's first key, and the data block's handle as value.
The metaindex block names filter blocks; TensorFlow writes none, so it is an
empty block (its restart array only).
*/

const (
	footerLen          = 48
	magic              = 0xdb4775248b80fb57
	blockTrailerLen    = 5
	maxBlockHandleLen  = 2 * 10 // two uvarint64s
	restartInterval    = 16
	defaultBlockSize   = 256 << 10 // TensorFlow's table::Options default
	noCompression      = 0
	snappyCompression  = 1
	restartEntryLen    = 4
	maxSnappyExpansion = 22 // a 3-byte Snappy copy makes at most 64 bytes
)

// Errors a caller can test with errors.Is.
var (
	// ErrFormat means the file is not a valid table.
	ErrFormat = errors.New("table: not a valid table")
	// ErrChecksum means a block's checksum does not match its contents.
	ErrChecksum = errors.New("table: checksum mismatch")
)
