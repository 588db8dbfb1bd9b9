package xla

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // the pure-Go backend, always linked
)

// PluginEnv is the environment variable naming the PJRT plugin to load: the
// absolute path of a shared library such as jax's xla_cuda_plugin.so.
const PluginEnv = "CONFROBUST_PJRT_PLUGIN"

// ErrNoPlugin is returned (wrapped) when no usable PJRT plugin is found or the
// one named fails to load.
var ErrNoPlugin = errors.New("engine/xla: no usable PJRT plugin")

// howToProvide is appended to backend errors.
const howToProvide = `provide a PJRT plugin in one of these ways:
  - config [engine] plugin = "/path/to/xla_cuda_plugin.so" (relative to the config file; xla.WithBackend("xla:/abs/path") in Go), or
  - environment ` + PluginEnv + `=/abs/path/to/xla_cuda_plugin.so (jax ships one: find / -name xla_cuda_plugin.so), or
  - GOMLX_BACKEND=xla:cuda with the plugin installed where GoMLX searches (PJRT_PLUGIN_LIBRARY_PATH,
    ~/.local/lib/go-xla); on a machine with a network GoMLX installs plugins itself unless GOMLX_NO_AUTO_INSTALL is set.
Use backend "go" for GoMLX's pure-Go CPU backend (slow; meant for tests).`

// resolveBackend returns the GoMLX backend configuration to use: the
// explicit config if not empty, else $CONFROBUST_PJRT_PLUGIN as "xla:<path>",
// else $GOMLX_BACKEND, else "xla" (GoMLX's own plugin search).
func resolveBackend(config string) (string, error) {
	if config != "" {
		return config, nil
	}
	if p := os.Getenv(PluginEnv); p != "" {
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("%w: $%s=%q is not an absolute path (GoMLX loads plugins by absolute path; symlinks crashed in our tests)\n%s", ErrNoPlugin, PluginEnv, p, howToProvide)
		}
		return "xla:" + p, nil
	}
	if c := os.Getenv(backends.ConfigEnvVar); c != "" {
		return c, nil
	}
	return "xla", nil
}

// newBackend creates the GoMLX backend named by config ("go" (meaning
// "go:ops_sequential"), "xla",
// "xla:cuda", "xla:/abs/path/plugin.so[,options]"), turning GoMLX's panics
// into errors that say how to provide a plugin.
func newBackend(config string) (b backends.Backend, err error) {
	name, rest, _ := strings.Cut(config, ":")
	switch name {
	case "go", "simplego":
		if rest == "" {
			// GoMLX v0.26.0's parallel op scheduler races (go test -race
			// reports buffer reuse while a sibling op still reads it), so
			// run ops one after another: deterministic, and the kernels
			// themselves still use several cores.
			config = name + ":ops_sequential"
		}
	case "xla", "stablehlo", "shlo", "hlo", "pjrt":
		if !xlaLinked {
			return nil, fmt.Errorf("%w: this binary was built without XLA (CGO_ENABLED=0 or -tags noxla); rebuild with `CGO_ENABLED=1 go build` to use backend %q\n%s", ErrNoPlugin, config, howToProvide)
		}
		if plugin, _, _ := strings.Cut(rest, ","); filepath.IsAbs(plugin) {
			if _, err := os.Stat(plugin); err != nil {
				return nil, fmt.Errorf("%w: %v\n%s", ErrNoPlugin, err, howToProvide)
			}
			// go-xla v0.1.4's CUDA check, when it finds an nvidia/ folder
			// next to the plugin, points XLA_FLAGS at a path hard-coded from
			// its author's machine (pjrt/cuda_linux.go): turn it off unless
			// the caller set it. An absolute path never auto-installs.
			if _, set := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !set {
				os.Setenv("GOPJRT_CUDA_CHECKS", "0")
			}
		}
	default:
		return nil, fmt.Errorf("engine/xla: unknown backend %q (want \"go\" or \"xla[:plugin]\")", config)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: backend %q: %v\n%s", ErrNoPlugin, config, r, howToProvide)
		}
	}()
	b, err = backends.NewWithConfig(config)
	if err != nil {
		if name == "go" || name == "simplego" {
			return nil, fmt.Errorf("engine/xla: backend %q: %w", config, err)
		}
		return nil, fmt.Errorf("%w: backend %q: %v\n%s", ErrNoPlugin, config, err, howToProvide)
	}
	return b, nil
}

// NewBackend resolves and loads the GoMLX backend of config as New does
// (see WithBackend), for executors that share it (WithBackendInstance); the
// caller finalizes it after closing them.
func NewBackend(config string) (backends.Backend, error) {
	cfg, err := resolveBackend(config)
	if err != nil {
		return nil, err
	}
	return newBackend(cfg)
}
