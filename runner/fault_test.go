package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"confrobust/internal/atomicfile"
)

// childEnv makes the test binary run the runner (see TestMain) with the
// arguments joined by childSep.
const (
	childEnv = "CONFROBUST_RUNNER_CHILD_ARGS"
	childSep = "\x1f"
)

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		os.Exit(runMain(strings.Split(args, childSep), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// child returns the runner as a separate process with the arguments.
func child(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, childSep))
	return cmd
}

// faultTOML is a rejection run on the tiny model that takes a few seconds
// on 2 cores: long enough to be killed in the middle of its units.
const faultTOML = `[attack]
eta = [0.05, 0.1]
iterations = 15
restarts = 2

[reject]
p = [0.5, 0.9]
`

// TestKilledRunsResume kills the runner with SIGKILL at random moments of
// a run, several times, reruns the same command each time, and checks that
// the finished results.json is byte-identical to an uninterrupted run's.
func TestKilledRunsResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks in subprocesses")
	}
	cfg := tinyRun(t, "rejection", faultTOML)
	base := filepath.Dir(cfg)
	fresh := filepath.Join(base, "fresh")
	start := time.Now()
	runOK(t, "-config", cfg, "-quiet", "-set", "data.points=8", "-set", "data.unit_points=2", "-set", "output="+quote(fresh))
	full := time.Since(start)
	want := readFile(t, filepath.Join(fresh, "results.json"))

	out := filepath.Join(base, "killed")
	args := []string{"-config", cfg, "-quiet", "-set", "data.points=8", "-set", "data.unit_points=2", "-set", "output=" + quote(out)}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for attempt := 0; attempt < 3; attempt++ {
		cmd := child(args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A random moment between 10% and 60% of an uninterrupted run.
		wait := time.Duration((0.1 + 0.5*r.Float64()) * float64(full))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d failed: %v\n%s", attempt, err, stderr.String())
			}
			attempt = 99 // finished before the kill
			continue
		case <-time.After(wait):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
	}
	runOK(t, args...)
	if got := readFile(t, filepath.Join(out, "results.json")); !bytes.Equal(got, withOutput(want, fresh, out)) {
		t.Errorf("results after %d kills differ from an uninterrupted run", kills)
	}
	t.Logf("%d kills at random moments; the uninterrupted run took %s", kills, full.Round(time.Millisecond))
}

// withOutput rewrites the output directory named in results.json.
func withOutput(results []byte, from, to string) []byte {
	return bytes.ReplaceAll(results, []byte(quote(from)[1:len(quote(from))-1]), []byte(quote(to)[1:len(quote(to))-1]))
}

// TestKilledTrainingResumes kills a training run with SIGKILL in the middle
// and reruns it: the model and card equal an uninterrupted run's.
func TestKilledTrainingResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains in subprocesses")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "train.toml")
	text := `experiment = "train"
seed = 7
[data]
points = 300
[model]
widths = [4, 8, 32]
[train]
steps = 60
batch = 20
checkpoint_every = 10
log_every = 1000
[eval]
points = 50
pgd_points = 5
eps = [0.1]
iterations = 2
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh")
	start := time.Now()
	runOK(t, "-config", cfg, "-quiet", "-set", "output="+quote(fresh))
	full := time.Since(start)

	out := filepath.Join(dir, "killed")
	args := []string{"-config", cfg, "-quiet", "-set", "output=" + quote(out)}
	cmd := child(args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(full / 2)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	runOK(t, args...)
	for _, f := range []string{"checkpoint.index", "checkpoint.data-00000-of-00001"} {
		if got, want := readFile(t, filepath.Join(out, f)), readFile(t, filepath.Join(fresh, f)); !bytes.Equal(got, want) {
			t.Errorf("%s of the killed and resumed training differs from an uninterrupted run's", f)
		}
	}
}

// TestDiskFull: a write that fails as on a full disk stops the run with an
// error that says so; the rerun, with space again, completes and gives the
// uninterrupted run's results.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks")
	}
	cfg := tinyRun(t, "rejection", rejectionTOML)
	base := filepath.Dir(cfg)
	fresh := filepath.Join(base, "fresh")
	runOK(t, "-config", cfg, "-quiet", "-set", "output="+quote(fresh))
	want := readFile(t, filepath.Join(fresh, "results.json"))

	out := filepath.Join(base, "full")
	args := []string{"-config", cfg, "-quiet", "-set", "output=" + quote(out)}
	for _, after := range []int64{1, 20_000, 60_000} {
		restore := atomicfile.FailAfter(after)
		var stdout, stderr bytes.Buffer
		code := runMain(args, &stdout, &stderr)
		restore()
		if code == 0 {
			continue // everything fit
		}
		if !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("disk full after %d bytes: exit %d, stderr %q; want it to say no space is left", after, code, stderr.String())
		}
	}
	runOK(t, args...)
	if got := readFile(t, filepath.Join(out, "results.json")); !bytes.Equal(got, withOutput(want, fresh, out)) {
		t.Errorf("results after full-disk failures differ from an uninterrupted run")
	}
}

// TestConcurrentRunsRefused: while one run holds an output directory, a
// second run into it is refused with the owner's pid, and touches nothing.
func TestConcurrentRunsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks in a subprocess")
	}
	cfg := tinyRun(t, "rejection", faultTOML)
	out := filepath.Join(filepath.Dir(cfg), "out")
	args := []string{"-config", cfg, "-quiet", "-set", "data.points=8", "-set", "data.unit_points=2", "-set", "output=" + quote(out)}
	first := child(args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { first.Process.Kill(); first.Wait() }()
	lock := filepath.Join(out, "journal", ".lock-0-of-1")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(lock); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never took its lock")
		}
	}
	var stdout, stderr bytes.Buffer
	code := runMain(args, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), fmt.Sprintf("in use by pid %d", first.Process.Pid)) {
		t.Errorf("second run: exit %d, stderr %q; want a refusal naming pid %d", code, stderr.String(), first.Process.Pid)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); !errors.Is(err, os.ErrNotExist) && code != 0 {
		t.Errorf("the refused run wrote results")
	}
}

// TestCorruptJournalRecomputed: a unit file torn or altered on disk is
// noticed, computed again, and the results equal an intact run's.
func TestCorruptJournalRecomputed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks")
	}
	cfg := tinyRun(t, "rejection", rejectionTOML)
	out := filepath.Join(filepath.Dir(cfg), "out")
	args := []string{"-config", cfg, "-quiet", "-set", "output=" + quote(out)}
	runOK(t, args...)
	want := readFile(t, filepath.Join(out, "results.json"))
	units, _ := filepath.Glob(filepath.Join(out, "journal", "s-*", "unit-*.json"))
	if len(units) < 2 {
		t.Fatalf("%d unit files", len(units))
	}
	data := readFile(t, units[0])
	os.WriteFile(units[0], data[:len(data)/2], 0o644)                                                                // torn
	os.WriteFile(units[1], bytes.Replace(readFile(t, units[1]), []byte(`"conf":0.`), []byte(`"conf":1.`), 1), 0o644) // altered
	var stdout, stderr bytes.Buffer
	if code := runMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr.String())
	}
	if n := strings.Count(stderr.String(), "computing it again"); n != 2 {
		t.Errorf("rerun said %d times that it recomputes a unit, want 2:\n%s", n, stderr.String())
	}
	if got := readFile(t, filepath.Join(out, "results.json")); !bytes.Equal(got, want) {
		t.Errorf("results after recomputing the damaged units differ")
	}
}
