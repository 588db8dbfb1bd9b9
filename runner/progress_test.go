package main

import (
	"bytes"
	"strings"
	"testing"

	"confrobust/internal/job"
)

// TestDisplayLines: off a terminal the display writes a line at the end of
// each phase (and every interval), and a finished phase's last report sent
// again (as the runner does after its last unit) adds no line, in
// particular none with a rate computed over no time.
func TestDisplayLines(t *testing.T) {
	var buf bytes.Buffer
	d := newDisplay(&buf)
	for _, r := range []job.Report{
		{Phase: "run", Done: 0, Total: 10, Unit: "grads"},
		{Phase: "run", Done: 5, Total: 10, Unit: "grads"},
		{Phase: "run", Done: 10, Total: 10, Unit: "grads"},
		{Phase: "run", Done: 10, Total: 10, Unit: "grads"},
		{Phase: "eval", Done: 3, Total: 3, Unit: "images"},
	} {
		if err := d.report(r); err != nil {
			t.Fatal(err)
		}
	}
	d.finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "run: 10/10 grads (100.0%)") || !strings.HasPrefix(lines[1], "eval: 3/3 images") {
		t.Errorf("lines:\n%s", buf.String())
	}
}
