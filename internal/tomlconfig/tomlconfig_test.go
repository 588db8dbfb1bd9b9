package tomlconfig

import (
	"slices"
	"strings"
	"testing"
)

type engine struct {
	Backend string `toml:"backend"`
	Batch   int    `toml:"batch"`
}

type item struct {
	Name  string `toml:"name"`
	Units int    `toml:"units"`
}

type config struct {
	Title  string    `toml:"title"`
	Eta    []float64 `toml:"eta"`
	Random *bool     `toml:"random"`
	Engine engine    `toml:"engine"`
	Items  []item    `toml:"items"`
}

const text = `
title = "t"
[engine]
batch = 7
[[items]]
name = "a"
[[items]]
name = "b"
units = 2
`

func TestDecodeOverrides(t *testing.T) {
	var c config
	_, err := Decode([]byte(text), []string{"eta=[0.1, 0.2]", "engine.backend=xla", "title=\"u\""}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != "u" || c.Engine.Backend != "xla" || c.Engine.Batch != 7 || !slices.Equal(c.Eta, []float64{0.1, 0.2}) || len(c.Items) != 2 {
		t.Errorf("decoded %+v", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		text      string
		overrides []string
		want      string
	}{
		{"titel = 1", nil, "unknown key titel"},
		{text, []string{"engine.bach=3"}, "unknown key engine.bach"},
		{text, []string{"engine"}, "want key=value"},
		{text, []string{"title.x=1"}, "title is not a table"},
		{"title = ", nil, ""},
	} {
		var c config
		_, err := Decode([]byte(tc.text), tc.overrides, &c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: error %v, want %q", tc.text, tc.overrides, err, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	var c config
	d, err := Decode([]byte(text), nil, &c)
	if err != nil {
		t.Fatal(err)
	}
	// What a caller's defaults would fill in.
	c.Engine.Backend = "native"
	c.Items[0].Units = 5
	rs := true
	c.Random = &rs
	got := d.Defaults(&c)
	want := []string{"random = true", "engine.backend = \"native\"", "items[0].units = 5"}
	if !slices.Equal(got, want) {
		t.Errorf("Defaults = %q, want %q", got, want)
	}
}

// TestDefaultsInlineTables: an inline array of tables, in the text or in
// an override, gives its keys as [[items]] sections do.
func TestDefaultsInlineTables(t *testing.T) {
	for _, tc := range []struct {
		text      string
		overrides []string
	}{
		{"[[items]]\nname = \"a\"\n[[items]]\nname = \"b\"\nunits = 2\n", nil},
		{"items = [{name = \"a\"}, {name = \"b\", units = 2}]\n", nil},
		{"", []string{`items=[{name="a"}, {name="b", units=2}]`}},
	} {
		var c config
		d, err := Decode([]byte(tc.text), tc.overrides, &c)
		if err != nil {
			t.Fatal(err)
		}
		c.Items[0].Units = 5 // the caller's default
		got := d.Defaults(&c)
		if want := []string{"items[0].units = 5"}; !slices.Equal(got, want) {
			t.Errorf("%q %q: Defaults = %q, want %q", tc.text, tc.overrides, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range [][3]string{{"configs", "m/ckpt", "configs/m/ckpt"}, {"configs", "/abs", "/abs"}, {"configs", "", ""}} {
		if got := Resolve(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Resolve(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}
