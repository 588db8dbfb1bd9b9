package gpucheck

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScript builds the two binaries and runs scripts/gpu-check.sh as a
// GPU machine would, but on GoMLX's pure-Go backend with tiny networks
// (GPU_CHECK_BACKEND=go): every part of the script runs, and the report
// holds every part's numbers. PyTorch is absent here (its part is skipped
// with a message); its output format is checked by TestReport.
func TestScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs the whole script")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skip("no timeout (coreutils)")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, b := range []struct{ name, pkg string }{{"gpucheck", "./engine/crosscheck/cmd/gpucheck"}, {"runner", "./runner"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b.name), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(filepath.Join(root, "scripts", "gpu-check.sh"), out)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BIN="+bin, "GPU_CHECK_BACKEND=go", "PYTHON=/nonexistent/python", "BUDGET=300")
	stdout, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gpu-check.sh: %v\n%s", err, stdout)
	}
	var s Summary
	data, err := os.ReadFile(filepath.Join(out, "gpu-check.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Agreement) != 2 || len(s.Throughput) != 5 || s.Slice == nil || s.Auto == nil {
		t.Fatalf("report: %d agreements, %d rates, slice %v, auto %v; want 2, 5, both\n%s", len(s.Agreement), len(s.Throughput), s.Slice != nil, s.Auto != nil, stdout)
	}
	for _, a := range s.Agreement {
		if a.LogitsRel > 1e-4 || a.InputGradRel > 1e-3 || a.XLA.Inputs != 0 {
			t.Errorf("%s: logits %g, gradients %g, %d inputs decide differently", a.Net, a.LogitsRel, a.InputGradRel, a.XLA.Inputs)
		}
	}
	if sl := s.Slice; sl.GradientEvaluations != 4*9*2 || sl.Backend != "xla" || len(sl.Projected) != 2 || sl.Projected[0].GradientEvaluations != 36_000_000 {
		t.Errorf("slice: %+v", sl)
	}
	md, err := os.ReadFile(filepath.Join(out, "gpu-check.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## 1. Agreement", "## 2. Throughput", "## 3. End-to-end slice", "## 4. Compile times", "torch.jsonl"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("gpu-check.md lacks %q:\n%s", want, md)
		}
	}
}

// TestReport merges hand-written parts and PyTorch lines and checks the
// targets.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	o := Options{Out: dir}
	rates := []Rate{{Impl: "xla", Net: "wrn", Precision: "float32", Batch: 256, Steps: 20, ImageGradsPerS: 13000},
		{Impl: "xla", Net: "wrn", Precision: "bf16", Batch: 256, Steps: 20, ImageGradsPerS: 12000},
		{Impl: "xla", Net: "wrn", Precision: "float32", Batch: 450, Steps: 20, ImageGradsPerS: 14000}}
	if err := o.writeJSON("throughput.json", rates); err != nil {
		t.Fatal(err)
	}
	slice := Slice{SliceSetup: SliceSetup{Config: "configs/table2.toml"}, GradsPerS: 13300, StepRate: 14000, StepShare: 0.95,
		Projected: []Projection{{Config: "configs/table2.toml", GradientEvaluations: 36_000_000, Hours: 0.75}}}
	if err := o.writeJSON("slice.json", slice); err != nil {
		t.Fatal(err)
	}
	torch := `{"impl": "torch", "net": "wrn", "mode": "compile", "precision": "tf32", "batch": 256, "steps": 20, "image_grads_per_s": 9500.0, "torch": "2.11", "device": "H200"}
{"impl": "torch", "net": "wrn", "mode": "compile_bf16", "precision": "bf16", "batch": 256, "steps": 20, "image_grads_per_s": 10000.0, "torch": "2.11", "device": "H200"}
{"impl": "torch", "net": "wrn", "mode": "eager", "batch": 512, "error": "OutOfMemoryError: ..."}
not json
`
	if err := os.WriteFile(filepath.Join(dir, "torch.jsonl"), []byte(torch), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Report(o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"WideResNet step float32/TF32 ÷ torch.compile (best batch)":       true,  // 13000/9500 = 1.37
		"WideResNet step bf16 ÷ torch.compile bf16 autocast (best batch)": false, // 1.2
		"Table 2 slice ÷ bare step at its batch":                          true,
		"full Table 2 grid, projected":                                    true,
	}
	if len(s.Targets) != len(want) {
		t.Fatalf("targets %+v", s.Targets)
	}
	for _, tg := range s.Targets {
		if met, ok := want[tg.Name]; !ok || met != tg.Met {
			t.Errorf("target %q: measured %v, met %v", tg.Name, tg.Measured, tg.Met)
		}
	}
	if len(s.Torch) != 3 || !strings.Contains(s.Markdown(), "| wrn | 256 | 13000 | 12000 | – | – | 9500 | 10000 | 1.37× | 1.20× |") {
		t.Errorf("%d torch lines; markdown:\n%s", len(s.Torch), s.Markdown())
	}
}
