// Package tomlconfig decodes the harness's TOML configs strictly: an unknown
// key, in the file or in a command-line override, is an error naming it.
// Overrides ("dotted.key=value", with a TOML value) replace keys before
// decoding, as the runner's -set flag does, and the decoder remembers which
// keys were given so that a caller can say which defaults it applied.
//
//	var c Config
//	d, err := tomlconfig.Decode(data, []string{"attack.eta=[0.1,0.2]"}, &c)
//	if err != nil { ... }
//	c.defaults()
//	for _, line := range d.Defaults(&c) {
//		log.Printf("default: %s", line) // "engine.batch = 100"
//	}
package tomlconfig

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Decoded remembers what a config gave: the TOML tree after the overrides.
type Decoded struct {
	tree map[string]any
}

// Decode decodes TOML text into v after applying overrides ("dotted.key=value"
// with a TOML value; a value that is not TOML is a bare string, as in
// -set engine.backend=xla). A key of the text or of an override that v does
// not have is an error naming the key.
func Decode(data []byte, overrides []string, v any) (*Decoded, error) {
	tree := map[string]any{}
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, err
	}
	for _, o := range overrides {
		if err := override(tree, o); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(tree); err != nil {
		return nil, err
	}
	md, err := toml.Decode(buf.String(), v)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	return &Decoded{tree: tree}, nil
}

// override sets one dotted key of the decoded TOML tree to a TOML value.
func override(tree map[string]any, o string) error {
	key, val, ok := strings.Cut(o, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("override %q: want key=value", o)
	}
	var v map[string]any
	if _, err := toml.Decode("v = "+val, &v); err != nil {
		// Bare words are strings: -set engine.backend=xla.
		v = map[string]any{"v": strings.TrimSpace(val)}
	}
	parts := strings.Split(key, ".")
	m := tree
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			if _, exists := m[p]; exists {
				return fmt.Errorf("override %q: %s is not a table", o, p)
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v["v"]
	return nil
}

// Defaults returns "key = value" for every key of the config v (a pointer
// to the struct Decode filled, after the caller applied its defaults) that
// neither the text nor an override gave, in the order of v's fields. Keys of
// arrays of tables are indexed: "models[0].units = 5". Fields without a toml
// tag are skipped, and so are values left at Go's zero value (nil pointers,
// empty lists and strings, 0, false), which mean "none" or "automatic" in
// the harness's configs rather than a default taken.
func (d *Decoded) Defaults(v any) []string {
	var out []string
	walkDefaults(&out, "", reflect.ValueOf(v).Elem(), d.tree)
	return out
}

func walkDefaults(out *[]string, prefix string, v reflect.Value, given map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		fv := v.Field(i)
		g, set := given[name]
		switch {
		case fv.Kind() == reflect.Struct:
			sub, _ := g.(map[string]any)
			walkDefaults(out, key+".", fv, sub)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			tables := tablesOf(g)
			for j := 0; j < fv.Len(); j++ {
				var sub map[string]any
				if j < len(tables) {
					sub = tables[j]
				}
				walkDefaults(out, fmt.Sprintf("%s[%d].", key, j), fv.Index(j), sub)
			}
		case set:
		case fv.Kind() == reflect.Pointer:
			if !fv.IsNil() {
				*out = append(*out, fmt.Sprintf("%s = %v", key, fv.Elem().Interface()))
			}
		case fv.Kind() == reflect.Slice || fv.Kind() == reflect.String:
			if fv.Len() > 0 {
				*out = append(*out, fmt.Sprintf("%s = %s", key, tomlValue(fv.Interface())))
			}
		case !fv.IsZero():
			*out = append(*out, fmt.Sprintf("%s = %v", key, fv.Interface()))
		}
	}
}

// tablesOf returns the tables of an array of tables as the TOML decoder
// gives it: []map[string]any for [[name]] sections, []any of
// map[string]any for an inline array (name = [{...}, {...}]). Other values
// give nil.
func tablesOf(v any) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		out := make([]map[string]any, len(v))
		for i, x := range v {
			out[i], _ = x.(map[string]any)
		}
		return out
	}
	return nil
}

// tomlValue formats v as TOML writes it.
func tomlValue(v any) string {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(map[string]any{"v": v}); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(strings.TrimPrefix(buf.String(), "v = "))
}

// Resolve returns path relative to the directory dir of the config file that
// names it: absolute and empty paths are returned as they are.
func Resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
