package xla

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindPlugin builds fake jax and GoMLX installations and checks the
// order of the search and the resolution of symlinks.
func TestFindPlugin(t *testing.T) {
	dir := t.TempDir()
	touch := func(p string) string {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	venv := filepath.Join(dir, "venv")
	touch("venv/lib/python3.12/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so")
	cuda13 := touch("venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	home := filepath.Join(dir, "home")
	goxla := touch("home/.local/lib/go-xla/pjrt_c_api_cuda_plugin.so")
	link := filepath.Join(dir, "link.so")
	if err := os.Symlink(cuda13, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		explicit, env, ve string
		want, from        string
	}{
		{"explicit wins", link, goxla, venv, cuda13, "engine.plugin"},
		{"environment", "", link, venv, cuda13, "$" + PluginEnv},
		{"jax, newest CUDA", "", "", venv, cuda13, "jax (Python site-packages)"},
		{"GoMLX install directory", "", "", filepath.Join(dir, "none"), goxla, "GoMLX install directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(PluginEnv, tc.env)
			t.Setenv("VIRTUAL_ENV", tc.ve)
			t.Setenv("CONDA_PREFIX", "")
			t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", "")
			t.Setenv("HOME", home)
			s := FindPlugin(tc.explicit)
			want, _ := filepath.EvalSymlinks(tc.want)
			if s.Path != want || s.From != tc.from {
				t.Errorf("found %q (%s), want %q (%s); searched %q", s.Path, s.From, want, tc.from, s.Searched)
			}
		})
	}
}
