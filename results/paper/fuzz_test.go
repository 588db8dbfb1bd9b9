package paper

import "testing"

// FuzzParse checks that Parse returns an error, never a panic, on any input.
func FuzzParse(f *testing.F) {
	f.Add(Source())
	f.Add([]byte("[table1]\npoints = 300\n"))
	f.Add([]byte("[table2]\nrows = [[1.0]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data)
		if err == nil && n == nil {
			t.Fatal("Parse returned neither numbers nor an error")
		}
	})
}
