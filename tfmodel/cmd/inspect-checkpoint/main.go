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
//	go run ./tfmodel/cmd/inspect-checkpoint -stats -verify -arch wrn models/adv_trained
//
// The exit status is 1 when a tensor cannot be read, a checksum fails or the
// checkpoint does not fit -arch, and 2 on bad usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"confrobust/tfmodel"
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

// options turns the flags into tfmodel.InspectOptions.
func options(tensors string, stats bool, values int, verify bool, arch string) (tfmodel.InspectOptions, error) {
	opt := tfmodel.InspectOptions{Stats: stats, Values: values, Verify: verify}
	if tensors != "" {
		opt.Keys = strings.Split(tensors, ",")
	}
	switch arch {
	case "":
	case "mnist":
		opt.Graph = tfmodel.MNISTCNN(tfmodel.DefaultMNIST)
	case "wrn":
		opt.Graph = tfmodel.WideResNet(tfmodel.DefaultWideResNet)
	default:
		return opt, fmt.Errorf("unknown -arch %q (want mnist or wrn)", arch)
	}
	return opt, nil
}

// run inspects the checkpoint that path names.
func run(w io.Writer, path string, opt tfmodel.InspectOptions) error {
	b, err := tfmodel.OpenCheckpoint(path)
	if err != nil {
		return err
	}
	defer b.Close()
	return tfmodel.Inspect(w, b, opt)
}
