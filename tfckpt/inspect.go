package tfckpt

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// InspectOptions says what Inspect prints besides each tensor's key, dtype,
// shape and size. The zero value prints just those.
type InspectOptions struct {
	// Keys limits the listing to these tensors; empty lists them all.
	Keys []string
	// Stats adds the minimum, maximum, mean and standard deviation of each
	// numeric tensor (of its finite values), and the count of NaN and
	// infinite values; a line after the table names every tensor holding
	// any, with its counts of each ("non-finite values: none" if there are
	// none). It reads every listed tensor.
	Stats bool
	// Values prints up to this many values of each listed tensor after the
	// table; 0 prints none, a negative number all.
	Values int
	// Verify reads every listed tensor, checks its checksum and says so in a
	// CRC column ("ok" or "MISMATCH").
	Verify bool
}

// Inspect writes a human-readable description of the bundle b to w, as
// TensorFlow's inspect_checkpoint tool does. It returns an error if a listed
// key is missing, a tensor cannot be read, or a checksum fails (with Verify); it
// still prints what it can. (model.Fit checks a bundle against an
// architecture.)
func Inspect(w io.Writer, b *Bundle, opt InspectOptions) error {
	entries := b.Entries()
	var errs []error
	if len(opt.Keys) > 0 {
		var sel []Entry
		for _, k := range opt.Keys {
			e, err := b.Lookup(k)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			sel = append(sel, e)
		}
		entries = sel
	}
	h := b.Header()
	order := "little-endian"
	if h.BigEndian {
		order = "big-endian"
	}
	var bytes int64
	for _, e := range b.Entries() {
		bytes += e.Size
	}
	fmt.Fprintf(w, "bundle %s\n", b.Prefix())
	fmt.Fprintf(w, "%d shard(s), %s, format producer %d, min consumer %d; %d tensors, %d data bytes\n\n",
		h.NumShards, order, h.Producer, h.MinConsumer, len(b.Entries()), bytes)

	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "KEY\tDTYPE\tSHAPE\tBYTES"
	if opt.Verify {
		head += "\tCRC"
	}
	if opt.Stats {
		head += "\tMIN\tMAX\tMEAN\tSTD\tNONFINITE"
	}
	fmt.Fprintln(tw, head)
	var values, nonFinite []string
	failed := 0
	for _, e := range entries {
		row := fmt.Sprintf("%s\t%s\t%s\t%d", e.Key, e.DType, shapeString(e.Shape), e.Size)
		if e.Slices > 0 {
			row += fmt.Sprintf(" (%d slices)", e.Slices)
		}
		var t *Tensor
		var readErr error
		if (opt.Stats || opt.Values != 0 || opt.Verify) && e.Slices == 0 {
			if t, readErr = b.Tensor(e.Key); readErr != nil {
				errs = append(errs, readErr)
			}
		}
		if opt.Verify {
			switch {
			case e.Slices > 0:
				row += "\t-"
			case errors.Is(readErr, ErrChecksum):
				row += "\tMISMATCH"
				failed++
			case readErr != nil:
				row += "\tunreadable"
				failed++
			default:
				row += "\tok"
			}
		}
		if opt.Stats {
			cols, nan, inf := stats(t)
			row += "\t" + cols
			if nan+inf > 0 {
				nonFinite = append(nonFinite, fmt.Sprintf("%s (%d NaN, %d Inf)", e.Key, nan, inf))
			}
		}
		fmt.Fprintln(tw, row)
		if opt.Values != 0 && t != nil {
			values = append(values, fmt.Sprintf("%s = %s", e.Key, valuesString(t, opt.Values)))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("tfckpt: inspect: %w", err)
	}
	if opt.Stats {
		if len(nonFinite) > 0 {
			fmt.Fprintf(w, "\nnon-finite values in %d of %d tensors: %s\n", len(nonFinite), len(entries), strings.Join(nonFinite, ", "))
		} else {
			fmt.Fprintf(w, "\nnon-finite values: none\n")
		}
	}
	if len(values) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(values, "\n"))
	}
	if opt.Verify {
		if failed > 0 {
			fmt.Fprintf(w, "\nchecksums: %d of %d tensors FAILED\n", failed, len(entries))
		} else {
			fmt.Fprintf(w, "\nchecksums: all %d tensors match\n", len(entries))
		}
	}
	return errors.Join(errs...)
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// stats returns the tab-separated statistics columns of t and its counts of
// NaN and infinite values.
func stats(t *Tensor) (cols string, nan, inf int) {
	const none = "-\t-\t-\t-\t-"
	if t == nil {
		return none, 0, 0
	}
	v, err := t.Float64s()
	if err != nil || len(v) == 0 {
		return none, 0, 0
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var sum, sumSq float64
	n := 0
	for _, x := range v {
		switch {
		case math.IsNaN(x):
			nan++
			continue
		case math.IsInf(x, 0):
			inf++
			continue
		}
		lo, hi = min(lo, x), max(hi, x)
		sum += x
		n++
	}
	if n == 0 {
		return fmt.Sprintf("-\t-\t-\t-\t%d", nan+inf), nan, inf
	}
	mean := sum / float64(n)
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			sumSq += (x - mean) * (x - mean)
		}
	}
	return fmt.Sprintf("%.6g\t%.6g\t%.6g\t%.6g\t%d", lo, hi, mean, math.Sqrt(sumSq/float64(n)), nan+inf), nan, inf
}

// valuesString formats up to limit values of t (all if limit < 0).
func valuesString(t *Tensor, limit int) string {
	var items []string
	n := t.NumElements()
	shown := n
	if limit >= 0 && limit < n {
		shown = limit
	}
	switch {
	case t.DType == DTString:
		for _, s := range t.Strings[:shown] {
			if len(s) > 64 {
				items = append(items, fmt.Sprintf("%q...(%d bytes)", s[:64], len(s)))
			} else {
				items = append(items, strconv.Quote(string(s)))
			}
		}
	case t.DType == DTComplex64 || t.DType == DTComplex128:
		half := t.DType.Size() / 2
		for i := range shown {
			re, im := floatAt(t.Data[i*2*half:], half), floatAt(t.Data[i*2*half+half:], half)
			items = append(items, fmt.Sprintf("(%.6g%+.6gi)", re, im))
		}
	default:
		v, err := t.Float64s()
		if err != nil {
			return err.Error()
		}
		for _, x := range v[:shown] {
			items = append(items, strconv.FormatFloat(x, 'g', 8, 64))
		}
	}
	s := "[" + strings.Join(items, " ") + "]"
	if shown < n {
		s += fmt.Sprintf(" (first %d of %d)", shown, n)
	}
	return s
}

// floatAt decodes a little-endian float32 (size 4) or float64 (size 8).
func floatAt(b []byte, size int) float64 {
	t := Tensor{DType: DTFloat, Data: b[:size]}
	if size == 8 {
		t.DType = DTDouble
	}
	v, _ := t.Float64s()
	return v[0]
}
