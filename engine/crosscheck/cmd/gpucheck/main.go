// Command gpucheck runs one part of scripts/gpu-check.sh (package
// engine/crosscheck/gpucheck): the agreement of engine/xla and engine/native,
// the throughput of the compiled attack step, the preparation and report of
// an end-to-end slice of configs/table2.toml, what backend auto picks, and
// the final report (gpu-check.json and gpu-check.md).
//
// Usage:
//
//	gpucheck -part agree|throughput|auto|slice-prepare|slice-report|report [flags]
//
// Build it beforehand on a machine with Go, with cgo (XLA is linked
// wherever cgo is), for a GPU machine without Go:
//
//	CGO_ENABLED=1 go build -o bin/gpucheck ./engine/crosscheck/cmd/gpucheck
//
// The xla executor loads the PJRT plugin of -plugin, else
// $CONFROBUST_PJRT_PLUGIN, else $GOMLX_BACKEND ("go" for GoMLX's pure-Go
// backend, with -scale tiny, as the tests do).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"confrobust/engine"
	"confrobust/engine/crosscheck/gpucheck"
)

var (
	partFlag    = flag.String("part", "", "agree, throughput, auto, slice-prepare, slice-report or report")
	outFlag     = flag.String("out", "gpu-check-out", "output directory of every part")
	scaleFlag   = flag.String("scale", "paper", "paper (the full Madry networks) or tiny (small ones, for CPU tests)")
	pluginFlag  = flag.String("plugin", "", "PJRT plugin (absolute path); empty: $CONFROBUST_PJRT_PLUGIN, then $GOMLX_BACKEND")
	batchesFlag = flag.String("batches", "", "comma-separated WideResNet batches of -part throughput (default 128,256,450,512)")
	bf16Flag    = flag.String("bf16-batches", "", "comma-separated WideResNet batches of -part throughput in bf16 (default 512)")
	mnistFlag   = flag.Int("mnist-batch", 0, "MNIST CNN batch of -part throughput (default 1000)")
	stepsFlag   = flag.Int("steps", 0, "attack steps per timed call (default 20); agree runs half as many")
	pointsFlag  = flag.Int("points", 0, "points of the agreement's max-confidence search (default 20)")
	table2Flag  = flag.String("table2", "configs/table2.toml", "the Table 2 config (slice and projection)")
	table4Flag  = flag.String("table4", "configs/table4.toml", "the Table 4 config (projection)")
	slicePoints = flag.Int("slice-points", 50, "points of the Table 2 slice (× 9 labels: 450 rows at 50)")
	sliceIters  = flag.Int("slice-iterations", 100, "iterations of the Table 2 slice")
	sliceBack   = flag.String("slice-backend", "", "engine.backend of the slice (empty: the config's, auto)")
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: gpucheck -part agree|throughput|auto|slice-prepare|slice-report|report [flags]\n")
	flag.PrintDefaults()
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("gpucheck: ")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() > 0 || *partFlag == "" {
		usage()
		os.Exit(2)
	}
	if err := gpucheckMain(); err != nil {
		log.Fatal(err)
	}
}

func gpucheckMain() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := gpucheck.Defaults(*outFlag)
	o.Scale, o.Log = *scaleFlag, os.Stderr
	o.XLA = engine.Config{Backend: engine.XLA, Plugin: *pluginFlag, Precision: engine.Float32}
	var err error
	if *batchesFlag != "" {
		if o.Batches, err = batches("-batches", *batchesFlag); err != nil {
			return err
		}
	}
	if *bf16Flag != "" {
		if o.BF16Batches, err = batches("-bf16-batches", *bf16Flag); err != nil {
			return err
		}
	}
	if *mnistFlag > 0 {
		o.MNISTBatch = *mnistFlag
	}
	if *stepsFlag > 0 {
		o.Steps = *stepsFlag
	}
	if *pointsFlag > 0 {
		o.Points = *pointsFlag
	}
	switch *partFlag {
	case "agree":
		_, err = gpucheck.Agree(ctx, o)
	case "throughput":
		_, err = gpucheck.Throughput(ctx, o)
	case "auto":
		var a *gpucheck.Auto
		if a, err = gpucheck.ProbeAuto(o); err == nil {
			fmt.Printf("executor=%s plugin=%s\n", a.Executor, a.Plugin)
			if a.Warning != "" {
				fmt.Fprintln(os.Stderr, a.Warning)
			}
		}
	case "slice-prepare":
		_, err = gpucheck.PrepareSlice(o, *table2Flag, *slicePoints, *sliceIters, *sliceBack)
	case "slice-report":
		_, err = gpucheck.SliceReport(o, *table2Flag, *table4Flag)
	case "report":
		var s *gpucheck.Summary
		if s, err = gpucheck.Report(o); err == nil {
			fmt.Print(s.Markdown())
		}
	default:
		usage()
		os.Exit(2)
	}
	return err
}

// batches parses a comma-separated list of batch sizes.
func batches(flagName, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 {
			return nil, fmt.Errorf("%s: %q is not a batch size", flagName, f)
		}
		out = append(out, b)
	}
	return out, nil
}
