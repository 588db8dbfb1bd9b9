// Command runner turns a TOML config into the paper's tables:
//
//	go run ./runner -config configs/mnist-table2.toml
//
// It runs the experiment the config names (see package experiments) on the
// executor its engine table names (native on the CPU; xla, GoMLX/XLA on a
// GPU; auto, the GPU when a PJRT CUDA plugin is found, else native with a
// warning and the time estimate for this machine), shows progress,
// keeps a journal so that a killed run resumes where it stopped, and writes
// results.json, results.csv, results.md and plots into the config's output
// directory (default results/<config name>).
//
// Flags override the config: -set key=value (repeatable; TOML values, e.g.
// -set attack.eta=[0.1,0.2] -set data.points=50), -backend, -shard k/n.
// -dry-run prints the grid, the number of gradient evaluations and a time
// estimate from a short calibration. -merge DIR,DIR combines the journals
// of shards. -report writes the results again from the journal without
// attacking (after a change of reject.p, say). -check exits 1 when a
// reproduced number is inconsistent with the paper's (Fisher's exact test
// on both counts, Holm-corrected over the table, α = 0.05). -inspect PREFIX lists a TensorFlow checkpoint's tensors
// (-tensor NAME prints one's values).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// options are the command line.
type options struct {
	config         string
	sets           multiFlag
	backend        string
	shard          string
	merge          string
	dryRun         bool
	check          bool
	report         bool
	allowNonFinite bool
	quiet          bool
	inspect        string
	tensor         string
	cpuprofile     string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "TOML experiment config (see configs/)")
	fs.Var(&o.sets, "set", "override a config key: -set attack.iterations=20 (repeatable)")
	fs.StringVar(&o.backend, "backend", "", "executor: native, xla or auto (overrides engine.backend)")
	fs.StringVar(&o.shard, "shard", "", "run only shard k/n of the work units (0 <= k < n)")
	fs.StringVar(&o.merge, "merge", "", "comma-separated journal directories of shards to merge into this run")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the grid, gradient evaluations and a time estimate, then exit")
	fs.BoolVar(&o.check, "check", false, "exit 1 if a reproduced number is inconsistent with the paper's (Fisher's exact test, Holm-corrected, α = 0.05)")
	fs.BoolVar(&o.allowNonFinite, "allow-nonfinite", false, "run models whose weights hold NaN or Inf (refused otherwise)")
	fs.BoolVar(&o.report, "report", false, "attack nothing: rewrite the results from the journal with the config's current thresholds")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar (for logs)")
	fs.StringVar(&o.inspect, "inspect", "", "list the tensors of a TensorFlow checkpoint PREFIX and exit")
	fs.StringVar(&o.tensor, "tensor", "", "with -inspect: print this tensor's values")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile to this file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runner -config FILE [-set key=value]... [-backend native|xla|auto] [-shard k/n] [-dry-run] [-report] [-check] [-quiet]\n")
		fmt.Fprintf(stderr, "       runner -config FILE -merge DIR[,DIR...]\n")
		fmt.Fprintf(stderr, "       runner -inspect PREFIX [-tensor NAME]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.inspect == "" && o.config == "" {
		fs.Usage()
		return nil, errors.New("need -config or -inspect")
	}
	return &o, nil
}

func main() {
	log.SetPrefix("runner: ")
	log.SetFlags(0)
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs the command and returns its exit status: 0 success, 1 a
// failed run or check, 2 bad usage. Deferred cleanup runs before main exits.
func runMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "runner: %v\n", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if o.inspect != "" {
		if err := inspect(stdout, o.inspect, o.tensor); err != nil {
			fmt.Fprintf(stderr, "runner: %v\n", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks errors in the command line or config.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
