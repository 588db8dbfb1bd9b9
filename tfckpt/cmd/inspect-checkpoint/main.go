// Inspect-checkpoint describes a TensorFlow checkpoint (a V2 tensor bundle):
// its tensors' keys, dtypes, shapes and sizes, and optionally their
// statistics and values, whether their checksums hold, and whether it fits
// one of Madry et al.'s architectures.
//
// Usage:
//
//	inspect-checkpoint [flags] path
//
// The path is a checkpoint prefix (models/adv_trained/checkpoint-70000), its
// .index file, or a directory whose "checkpoint" state file names one. For
// example
//
//	go run ./tfckpt/cmd/inspect-checkpoint -stats -verify -arch wrn models/adv_trained
//
// The exit status is 1 when a tensor cannot be read, a checksum fails or the
// checkpoint does not fit -arch, and 2 on bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"confrobust/model"
	"confrobust/tfckpt"
)

var (
	tensors = flag.String("tensor", "", "comma-separated keys of the tensors to list (default all)")
	stats   = flag.Bool("stats", false, "print min, max, mean, std and the count of non-finite values")
	values  = flag.Int("values", 0, "print up to `n` values of each tensor (-1: all)")
	verify  = flag.Bool("verify", false, "read every tensor and check its CRC-32C")
	arch    = flag.String("arch", "", "check the checkpoint against an architecture: mnist (Madry's MNIST CNN) or wrn (Madry's CIFAR-10 WideResNet)")
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: inspect-checkpoint [flags] path\n\n")
	fmt.Fprintf(os.Stderr, "path is a checkpoint prefix, its .index file, or a directory with a \"checkpoint\" file.\n\nFlags:\n")
	flag.PrintDefaults()
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("inspect-checkpoint: ")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	opt, err := options(*tensors, *stats, *values, *verify, *arch)
	if err != nil {
		log.Print(err)
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), opt); err != nil {
		log.Fatal(err)
	}
}

// options turns the flags into tfckpt.InspectOptions.
// The graph, for -arch, is nil when none is asked for.
func options(tensors string, stats bool, values int, verify bool, arch string) (inspection, error) {
	opt := inspection{InspectOptions: tfckpt.InspectOptions{Stats: stats, Values: values, Verify: verify}}
	if tensors != "" {
		opt.Keys = strings.Split(tensors, ",")
	}
	switch arch {
	case "":
	case "mnist":
		opt.Graph = model.MNISTCNN(model.DefaultMNIST)
	case "wrn":
		opt.Graph = model.WideResNet(model.DefaultWideResNet)
	default:
		return opt, fmt.Errorf("unknown -arch %q (want mnist or wrn)", arch)
	}
	return opt, nil
}

// inspection is what the flags ask for: a listing, and a graph to check the
// checkpoint against (nil for none).
type inspection struct {
	tfckpt.InspectOptions
	Graph *model.Graph
}

// run inspects the checkpoint that path names.
func run(w io.Writer, path string, opt inspection) error {
	b, err := tfckpt.OpenCheckpoint(path)
	if err != nil {
		return err
	}
	defer b.Close()
	err = tfckpt.Inspect(w, b, opt.InspectOptions)
	if opt.Graph != nil {
		err = errors.Join(err, model.Fit(w, b, opt.Graph))
	}
	return err
}
