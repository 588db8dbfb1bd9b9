package engine

// The executors a config can name.
const (
	// Native is the pure-Go CPU executor (engine/native), the default.
	Native = "native"
	// XLA is GoMLX/XLA with a PJRT plugin (engine/xla), for GPUs.
	XLA = "xla"
	// Auto is XLA on a GPU when a PJRT CUDA plugin is found and loads,
	// otherwise Native with a warning (engine/backend resolves it).
	Auto = "auto"
)

// The precisions a config can name.
const (
	// Float32 computes everything in float32 (on CUDA, XLA may use TF32
	// tensor cores for convolutions and dots). It is the default.
	Float32 = "float32"
	// BF16 runs the attack's passes (input gradients and compiled searches)
	// of the xla executor in bfloat16; every reported confidence is
	// recomputed in float32. Native refuses it.
	BF16 = "bf16"
)

// DeviceBatch is the default batch of the xla executor: rows of the
// experiments come in multiples of 9 wrong labels × 10 points × restarts,
// and 450 = 9·50 divides them while filling a GPU (the WideResNet's
// throughput at 256 rows is close to its peak on an H200).
const DeviceBatch = 450

// Config is the [engine] table of an experiment or training config; package
// engine/backend builds the executor it names.
type Config struct {
	// Backend is "native" (default, CPU), "xla" or "auto".
	Backend string `toml:"backend"`
	// Plugin is the PJRT plugin for xla and auto (a path relative to the
	// config file's directory, or absolute), or "" for the
	// CONFROBUST_PJRT_PLUGIN environment variable or the search that
	// engine/xla.FindPlugin describes.
	Plugin string `toml:"plugin"`
	// Batch is the number of rows per executor call; 0 is the executor's
	// default: the config kind's for native (experiments 100, training
	// evaluation 200), DeviceBatch for xla.
	Batch int `toml:"batch"`
	// Precision is "float32" (default) or "bf16" (xla only).
	Precision string `toml:"precision,omitempty"`

	nativeBatch int // the config kind's default batch, for Resolve
}

// Defaults fills in the backend and the precision and, when Batch is 0 and
// the backend is native, batch (the config kind's default, which Resolve
// also uses when auto falls back to native).
func (c *Config) Defaults(batch int) {
	if c.Backend == "" {
		c.Backend = Native
	}
	if c.Precision == "" {
		c.Precision = Float32
	}
	c.nativeBatch = batch
	if c.Batch == 0 && c.Backend == Native {
		c.Batch = batch
	}
}

// Resolved returns the config for the executor that backend names
// (Native or XLA), with the batch default of that executor filled in.
func (c Config) Resolved(backend string) Config {
	c.Backend = backend
	if c.Batch == 0 {
		c.Batch = c.nativeBatch
		if backend == XLA || c.Batch == 0 {
			c.Batch = DeviceBatch
		}
	}
	return c
}

// Check appends a message to errs for every bad field, each naming its key
// under the table name ("engine").
func (c *Config) Check(table string, bad func(format string, a ...any)) {
	switch c.Backend {
	case Native, XLA, Auto:
	default:
		bad("%s.backend: %q is not %s, %s or %s", table, c.Backend, Native, XLA, Auto)
	}
	switch {
	case c.Batch < 0:
		bad("%s.batch: %d must be ≥ 1 (or 0 for the executor's default)", table, c.Batch)
	case c.Batch == 0 && c.Backend == Native:
		bad("%s.batch: 0 must be ≥ 1", table)
	}
	switch c.Precision {
	case Float32:
	case BF16:
		if c.Backend == Native {
			bad("%s.precision: %q needs backend %q or %q (the native engine computes in float32 only)", table, c.Precision, XLA, Auto)
		}
	default:
		bad("%s.precision: %q is not %s or %s", table, c.Precision, Float32, BF16)
	}
}
