package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"confrobust/internal/job"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// display shows a run's progress: on a terminal, one progress bar per phase
// with the rate and the time left; elsewhere (a log file, a SLURM job's
// output) a line every interval and at the end of each phase, so that logs
// stay small. Log lines written through it appear above the bar.
type display struct {
	w        io.Writer
	tty      bool
	interval time.Duration

	phase string
	start time.Time
	last  time.Time
	bar   *progressbar.ProgressBar
	open  bool     // a phase is shown and not finished
	ended [2]int64 // Done and Total of the report that finished the last phase
}

// newDisplay returns a display writing to w, with a bar when w is a
// terminal.
func newDisplay(w io.Writer) *display {
	f, ok := w.(*os.File)
	return &display{w: w, tty: ok && term.IsTerminal(int(f.Fd())), interval: 30 * time.Second}
}

// report implements job.Progress; it never stops the run.
func (d *display) report(r job.Report) error {
	if !d.open && r.Phase == d.phase && [2]int64{r.Done, r.Total} == d.ended {
		return nil // the finished phase's last report again: nothing new to show
	}
	if !d.open || r.Phase != d.phase {
		d.finish()
		d.phase, d.start, d.last, d.open = r.Phase, time.Now(), time.Now(), true
		if d.tty {
			d.bar = progressbar.NewOptions64(r.Total,
				progressbar.OptionSetWriter(d.w),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString(r.Unit),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionFullWidth(),
			)
		}
	}
	if d.tty {
		desc := r.Phase
		if r.Detail != "" {
			desc += " " + r.Detail
		}
		d.bar.Describe(desc)
		d.bar.Set64(r.Done)
		return nil
	}
	if now := time.Now(); r.Done >= r.Total || now.Sub(d.last) >= d.interval {
		d.last = now
		d.line(r)
	}
	if r.Done >= r.Total {
		d.open, d.ended = false, [2]int64{r.Done, r.Total}
	}
	return nil
}

// line writes one progress line: phase, count, share, rate and time left.
func (d *display) line(r job.Report) {
	el := time.Since(d.start)
	msg := fmt.Sprintf("%s: %d/%d %s", r.Phase, r.Done, r.Total, r.Unit)
	if r.Total > 0 {
		msg += fmt.Sprintf(" (%.1f%%)", 100*float64(r.Done)/float64(r.Total))
	}
	if s := el.Seconds(); s > 0 && r.Done > 0 {
		rate := float64(r.Done) / s
		msg += fmt.Sprintf(", %.4g %s/s", rate, r.Unit)
		if r.Done < r.Total {
			left := time.Duration(float64(r.Total-r.Done) / rate * float64(time.Second))
			msg += fmt.Sprintf(", %s left", left.Round(time.Second))
		}
	}
	if r.Detail != "" {
		msg += ", " + r.Detail
	}
	fmt.Fprintln(d.w, msg)
}

// finish ends the current phase's bar.
func (d *display) finish() {
	if d.bar != nil {
		d.bar.Finish()
		io.WriteString(d.w, "\n")
		d.bar = nil
	}
	d.open = false
}

// Write writes a log line below a cleared bar.
func (d *display) Write(b []byte) (int, error) {
	if d.bar != nil {
		d.bar.Clear()
	}
	return d.w.Write(b)
}
