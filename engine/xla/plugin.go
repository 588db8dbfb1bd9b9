package xla

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Linked reports whether this binary links GoMLX's XLA backend (PJRT
// plugins through cgo). It is false in binaries built with CGO_ENABLED=0 or
// the noxla build tag, which run only GoMLX's pure-Go backend.
func Linked() bool { return xlaLinked }

// PluginSearch is the outcome of FindPlugin.
type PluginSearch struct {
	// Path is the plugin found (absolute, symlinks resolved), or "".
	Path string
	// From says where it was found: "engine.plugin", "$CONFROBUST_PJRT_PLUGIN",
	// "jax (Python site-packages)" or "GoMLX install directory".
	From string
	// Searched lists the places looked at, in order, for messages.
	Searched []string
}

// FindPlugin looks for a PJRT CUDA plugin, in order: explicit (a config's
// engine.plugin), $CONFROBUST_PJRT_PLUGIN, jax's CUDA plugin in a Python
// environment (jax_plugins/xla_cuda*/xla_cuda_plugin.so under the
// site-packages or dist-packages of $VIRTUAL_ENV, $CONDA_PREFIX, /opt/*/.venv,
// /opt/conda, ~/.local, /usr/local and /usr; the newest CUDA first), and
// GoMLX's install directories (~/.local/lib/go-xla, /usr/local/lib/go-xla,
// $PJRT_PLUGIN_LIBRARY_PATH: pjrt_c_api_cuda_plugin.so). An explicit or
// environment path is returned as given (resolved) even when missing, so
// that loading it reports the error; the searches return only existing
// files. Symlinks are resolved: loading a plugin through one crashed.
func FindPlugin(explicit string) PluginSearch {
	var s PluginSearch
	resolve := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			if a, err := filepath.Abs(r); err == nil {
				return a
			}
			return r
		}
		return p
	}
	if explicit != "" {
		s.Searched = append(s.Searched, "engine.plugin = "+explicit)
		s.Path, s.From = resolve(explicit), "engine.plugin"
		return s
	}
	if p := os.Getenv(PluginEnv); p != "" {
		s.Searched = append(s.Searched, "$"+PluginEnv+" = "+p)
		s.Path, s.From = resolve(p), "$"+PluginEnv
		return s
	}
	home, _ := os.UserHomeDir()
	var roots []string
	for _, r := range []string{os.Getenv("VIRTUAL_ENV"), os.Getenv("CONDA_PREFIX")} {
		if r != "" {
			roots = append(roots, r)
		}
	}
	if venvs, _ := filepath.Glob("/opt/*/.venv"); len(venvs) > 0 {
		roots = append(roots, venvs...)
	}
	roots = append(roots, "/opt/conda")
	if home != "" {
		roots = append(roots, filepath.Join(home, ".local"))
	}
	roots = append(roots, "/usr/local", "/usr")
	for _, root := range roots {
		var found []string
		for _, pattern := range []string{
			"lib/python3*/site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so",
			"lib/python3*/dist-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so",
			"lib/python3/dist-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so",
		} {
			g := filepath.Join(root, pattern)
			s.Searched = append(s.Searched, g)
			m, _ := filepath.Glob(g)
			found = append(found, m...)
		}
		if len(found) > 0 {
			// Newest first: xla_cuda13 before xla_cuda12, python3.12 before 3.10.
			slices.SortFunc(found, func(a, b string) int { return strings.Compare(cudaKey(b), cudaKey(a)) })
			s.Path, s.From = resolve(found[0]), "jax (Python site-packages)"
			return s
		}
	}
	var dirs []string
	if home != "" {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "go-xla"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla")
	if p := os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"); p != "" {
		dirs = append(dirs, filepath.SplitList(p)...)
	}
	for _, dir := range dirs {
		for _, f := range []string{"pjrt_c_api_cuda_plugin.so", "nvidia/pjrt_c_api_cuda_plugin.so"} {
			p := filepath.Join(dir, f)
			s.Searched = append(s.Searched, p)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				s.Path, s.From = resolve(p), "GoMLX install directory"
				return s
			}
		}
	}
	return s
}

// cudaKey orders jax plugin paths: the CUDA major version first, then the
// path.
func cudaKey(p string) string {
	i := strings.Index(p, "xla_cuda")
	if i < 0 {
		return p
	}
	v := strings.TrimPrefix(p[i:], "xla_cuda")
	v, _, _ = strings.Cut(v, "/")
	return strings.Repeat("0", max(0, 4-len(v))) + v + p
}

// HasNVIDIADevice reports whether the machine shows an NVIDIA device node
// (/dev/nvidia0, /dev/nvidiactl, ...): without one a CUDA plugin cannot run.
func HasNVIDIADevice() bool {
	m, _ := filepath.Glob("/dev/nvidia*")
	return len(m) > 0
}

// HowToGetGPU explains how to run on a GPU, for warnings.
const HowToGetGPU = `to run on an NVIDIA GPU, build with cgo (the default when a C compiler is present; not -tags noxla) on a machine with the GPU and one of:
  - jax's CUDA plugin: python3 -m pip install "jax[cuda13]" (found in the Python site-packages, e.g. .../site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so), or
  - engine.plugin = "/abs/path/xla_cuda_plugin.so" in the config, or $` + PluginEnv + `=/abs/path/xla_cuda_plugin.so, or
  - GoMLX's installer (github.com/gomlx/go-xla, pjrt_c_api_cuda_plugin.so in ~/.local/lib/go-xla or /usr/local/lib/go-xla).`
