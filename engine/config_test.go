package engine

import (
	"fmt"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		c   Config
		bad string // "" for a valid config
	}{
		{Config{Backend: Native, Batch: 1, Precision: Float32}, ""},
		{Config{Backend: Auto, Precision: BF16}, ""},
		{Config{Backend: XLA, Batch: 0, Precision: Float32}, ""},
		{Config{Backend: "tpu", Batch: 1, Precision: Float32}, "engine.backend"},
		{Config{Backend: Native, Batch: 0, Precision: Float32}, "engine.batch"},
		{Config{Backend: XLA, Batch: -1, Precision: Float32}, "engine.batch"},
		{Config{Backend: Native, Batch: 1, Precision: BF16}, "engine.precision"},
		{Config{Backend: XLA, Batch: 1, Precision: "fp16"}, "engine.precision"},
	} {
		var errs []string
		tc.c.Check("engine", func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) })
		got := strings.Join(errs, "; ")
		if tc.bad == "" && got != "" || tc.bad != "" && !strings.Contains(got, tc.bad) {
			t.Errorf("%+v: errors %q, want %q", tc.c, got, tc.bad)
		}
	}
	c := Config{Backend: Auto}
	c.Defaults(200)
	if c.Batch != 0 || c.Precision != Float32 {
		t.Errorf("auto defaults: batch %d precision %q", c.Batch, c.Precision)
	}
	if r := c.Resolved(Native); r.Batch != 200 || r.Backend != Native {
		t.Errorf("resolved to native: %+v", r)
	}
	if r := c.Resolved(XLA); r.Batch != DeviceBatch {
		t.Errorf("resolved to xla: batch %d", r.Batch)
	}
}
