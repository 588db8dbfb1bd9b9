package engine

// The executors a config can name.
const (
	// Native is the pure-Go CPU executor (engine/native), the default.
	Native = "native"
	// XLA is GoMLX/XLA with a PJRT plugin (engine/xla), for GPUs.
	XLA = "xla"
)

// Config is the [engine] table of an experiment or training config; package
// engine/backend builds the executor it names.
type Config struct {
	// Backend is "native" (default, CPU) or "xla".
	Backend string `toml:"backend"`
	// Plugin is the PJRT plugin for xla (a path relative to the config
	// file's directory, or absolute), or "" for the CONFROBUST_PJRT_PLUGIN
	// environment variable or GoMLX's own search.
	Plugin string `toml:"plugin"`
	// Batch is the number of rows per executor call; its default is the
	// config kind's (experiments 100, training evaluation 200).
	Batch int `toml:"batch"`
}

// Defaults fills in the backend and, when Batch is 0, batch.
func (c *Config) Defaults(batch int) {
	if c.Backend == "" {
		c.Backend = Native
	}
	if c.Batch == 0 {
		c.Batch = batch
	}
}

// Check appends a message to errs for every bad field, each naming its key
// under the table name ("engine").
func (c *Config) Check(table string, bad func(format string, a ...any)) {
	switch c.Backend {
	case Native, XLA:
	default:
		bad("%s.backend: %q is not %s or %s", table, c.Backend, Native, XLA)
	}
	if c.Batch < 1 {
		bad("%s.batch: %d must be ≥ 1", table, c.Batch)
	}
}
