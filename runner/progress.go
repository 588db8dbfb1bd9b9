package main

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// bar adapts a progress bar to experiments.Progress: it counts gradient
// evaluations and shows the rate and the time left.
type bar struct {
	w     io.Writer
	title string
	b     *progressbar.ProgressBar
}

func newBar(w io.Writer, title string) *bar { return &bar{w: w, title: title} }

func (b *bar) Start(total int64) {
	b.b = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(b.title),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("grads"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200_000_000),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { io.WriteString(b.w, "\n") }),
	)
}

func (b *bar) Set(done int64) {
	if b.b != nil {
		b.b.Set64(done)
	}
}

func (b *bar) Finish() {
	if b.b != nil {
		b.b.Finish()
	}
}
