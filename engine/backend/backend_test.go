package backend

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"confrobust/engine"
	"confrobust/engine/xla"
)

// TestOpen checks the executors a config resolves to on a machine without
// a GPU (the test machines have none): native as named, auto falling back
// to native with a warning, bf16 refused by native, an explicit xla
// without its plugin an error.
func TestOpen(t *testing.T) {
	t.Setenv(xla.PluginEnv, "")
	t.Setenv("VIRTUAL_ENV", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	if xla.HasNVIDIADevice() {
		t.Skip("this machine has an NVIDIA device: auto would pick it")
	}
	for _, tc := range []struct {
		name     string
		c        engine.Config
		executor string
		batch    int
		warning  string
		err      string
	}{
		{"native", engine.Config{Backend: engine.Native, Batch: 7}, engine.Native, 7, "", ""},
		{"auto falls back", engine.Config{Backend: engine.Auto}, engine.Native, 100, "to run on an NVIDIA GPU", ""},
		{"auto with a plugin but no GPU", engine.Config{Backend: engine.Auto, Plugin: "/nonexistent/xla_cuda_plugin.so"}, engine.Native, 100, "no NVIDIA device", ""},
		{"native bf16", engine.Config{Backend: engine.Native, Batch: 7, Precision: engine.BF16}, "", 0, "", "float32 only"},
		{"auto bf16 without GPU", engine.Config{Backend: engine.Auto, Precision: engine.BF16}, "", 0, "", "cannot run"},
		{"xla without plugin", engine.Config{Backend: engine.XLA, Plugin: "/nonexistent/xla_cuda_plugin.so"}, "", 0, "", "no usable PJRT plugin"},
		// A relative plugin is made absolute (GoMLX loads plugins by absolute path only).
		{"xla relative plugin", engine.Config{Backend: engine.XLA, Plugin: "nonexistent/xla_cuda_plugin.so"}, "", 0, "", abs("nonexistent/xla_cuda_plugin.so")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Defaults(100)
			f, err := Open(c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				if tc.c.Backend == engine.XLA && !errors.Is(err, xla.ErrNoPlugin) {
					t.Errorf("error %v does not wrap xla.ErrNoPlugin", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Executor != tc.executor || f.Config.Backend != tc.executor || f.Config.Batch != tc.batch {
				t.Errorf("executor %s (config %s, batch %d), want %s batch %d", f.Executor, f.Config.Backend, f.Config.Batch, tc.executor, tc.batch)
			}
			if (tc.warning == "") != (f.Warning == "") || !strings.Contains(f.Warning, tc.warning) {
				t.Errorf("warning %q, want one containing %q", f.Warning, tc.warning)
			}
			if f.Precision != engine.Float32 || !strings.Contains(f.Name, "native") {
				t.Errorf("name %q, precision %q", f.Name, f.Precision)
			}
		})
	}
}

// TestOpenGo opens the xla executor on GoMLX's pure-Go backend through the
// environment, as a GPU run opens its plugin: one backend shared by the
// executors, precision and batch resolved.
func TestOpenGo(t *testing.T) {
	t.Setenv(xla.PluginEnv, "")
	t.Setenv("GOMLX_BACKEND", "go")
	for _, prec := range []string{engine.Float32, engine.BF16} {
		c := engine.Config{Backend: engine.XLA, Precision: prec}
		c.Defaults(100)
		f, err := Open(c)
		if err != nil {
			t.Fatal(err)
		}
		if f.Config.Batch != engine.DeviceBatch || f.Executor != engine.XLA {
			t.Errorf("%s: executor %s batch %d, want xla %d", prec, f.Executor, f.Config.Batch, engine.DeviceBatch)
		}
		if want := prec == engine.BF16; strings.Contains(f.Precision, "bf16") != want {
			t.Errorf("%s: precision %q", prec, f.Precision)
		}
		f.Close()
	}
}

func abs(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		panic(err)
	}
	return p
}
