package gpucheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TorchRate is one line of scripts/torch_reference.py's output (JSON).
type TorchRate struct {
	Impl           string  `json:"impl"` // "torch"
	Net            string  `json:"net"`
	Mode           string  `json:"mode"`      // "eager", "channels_last", "compile", "compile_bf16", "eager_bf16"
	Precision      string  `json:"precision"` // "tf32" or "bf16"
	Batch          int     `json:"batch"`
	Steps          int     `json:"steps"`
	FirstCallS     float64 `json:"first_call_s"`
	BestS          float64 `json:"best_s"`
	ImageGradsPerS float64 `json:"image_grads_per_s"`
	Torch          string  `json:"torch"`
	Device         string  `json:"device"`
	Error          string  `json:"error,omitempty"`
}

// Target is one of issue 12's targets, measured.
type Target struct {
	Name     string  `json:"name"`
	Measured float64 `json:"measured"`
	Want     float64 `json:"want"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
}

// Summary is gpu-check.json.
type Summary struct {
	Machine    map[string]string `json:"machine"`
	Auto       *Auto             `json:"auto,omitempty"`
	Agreement  []Agreement       `json:"agreement"`
	Throughput []Rate            `json:"throughput"`
	Torch      []TorchRate       `json:"torch"`
	Slice      *Slice            `json:"slice,omitempty"`
	Compiles   []Compile         `json:"compiles"`
	Targets    []Target          `json:"targets"`
	Missing    []string          `json:"missing,omitempty"` // parts that wrote nothing
}

// Report merges the parts' files in o.Out (agreement.json,
// throughput.json, slice.json, auto.json, torch.jsonl and machine.txt, a
// "key: value" per line) into gpu-check.json and gpu-check.md. Missing
// parts are listed, not errors: a part that ran out of time leaves the
// others' numbers.
func Report(o Options) (*Summary, error) {
	s := &Summary{Machine: map[string]string{}}
	part := func(name string, v any) {
		if err := readJSON(filepath.Join(o.Out, name), v); err != nil {
			s.Missing = append(s.Missing, name)
		}
	}
	part("agreement.json", &s.Agreement)
	part("throughput.json", &s.Throughput)
	var auto Auto
	if part("auto.json", &auto); auto.Executor != "" {
		s.Auto = &auto
	}
	var slice Slice
	if part("slice.json", &slice); slice.Config != "" {
		s.Slice = &slice
	}
	if data, err := os.ReadFile(filepath.Join(o.Out, "torch.jsonl")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var t TorchRate
			if json.Unmarshal([]byte(line), &t) == nil {
				s.Torch = append(s.Torch, t)
			}
		}
	} else {
		s.Missing = append(s.Missing, "torch.jsonl")
	}
	if data, err := os.ReadFile(filepath.Join(o.Out, "machine.txt")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				s.Machine[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	for _, a := range s.Agreement {
		s.Compiles = append(s.Compiles, a.Compiles...)
	}
	for _, r := range s.Throughput {
		s.Compiles = append(s.Compiles, Compile{What: fmt.Sprintf("%s batch %d %s: search programs (%d steps each)", r.Net, r.Batch, r.Precision, r.Unroll), Seconds: r.CompileS})
	}
	if s.Slice != nil {
		s.Compiles = append(s.Compiles, Compile{What: "table2 slice: every program of the run", Seconds: s.Slice.CompileSeconds})
	}
	s.Targets = s.targets()
	if err := o.writeJSON("gpu-check.json", s); err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "gpu-check.md"), []byte(s.Markdown()), 0o644); err != nil {
		return s, fmt.Errorf("gpucheck: %w", err)
	}
	return s, nil
}

// xlaRate returns the xla rate of net at batch and precision (0: none).
func (s *Summary) xlaRate(net, prec string, batch int) float64 {
	for _, r := range s.Throughput {
		if r.Net == net && r.Precision == prec && r.Batch == batch {
			return r.ImageGradsPerS
		}
	}
	return 0
}

// torchRate returns PyTorch's rate of net at batch in mode (0: none).
func (s *Summary) torchRate(net, mode string, batch int) float64 {
	for _, r := range s.Torch {
		if r.Net == net && r.Mode == mode && r.Batch == batch && r.Error == "" {
			return r.ImageGradsPerS
		}
	}
	return 0
}

// targets evaluates issue 12's targets on what was measured: the best
// ratio over the WideResNet batches for the step, the slice's share of the
// bare step and Table 2's projected hours.
func (s *Summary) targets() []Target {
	var out []Target
	ratio := func(name, net, xprec, tmode string, want float64) {
		best, ok := 0.0, false
		for _, r := range s.Throughput {
			if r.Net != net || r.Precision != xprec {
				continue
			}
			if t := s.torchRate(net, tmode, r.Batch); t > 0 {
				best, ok = max(best, r.ImageGradsPerS/t), true
			}
		}
		if ok {
			out = append(out, Target{Name: name, Measured: best, Want: want, Unit: "×", Met: best >= want})
		}
	}
	ratio("WideResNet step float32/TF32 ÷ torch.compile (best batch)", "wrn", "float32", "compile", 1.3)
	ratio("WideResNet step bf16 ÷ torch.compile bf16 autocast (best batch)", "wrn", "bf16", "compile_bf16", 1.3)
	ratio("MNIST CNN step ÷ torch eager", "mnist", "float32", "eager", 1.0)
	if sl := s.Slice; sl != nil {
		if sl.StepShare > 0 {
			out = append(out, Target{Name: "Table 2 slice ÷ bare step at its batch", Measured: sl.StepShare, Want: 0.9, Unit: "×", Met: sl.StepShare >= 0.9})
		}
		for _, p := range sl.Projected {
			if strings.Contains(p.Config, "table2") && p.Hours > 0 {
				out = append(out, Target{Name: "full Table 2 grid, projected", Measured: p.Hours, Want: 1, Unit: "GPU-hours (at most)", Met: p.Hours <= 1})
			}
		}
	}
	return out
}

// Markdown renders the summary as the tables of gpu-check.md.
func (s *Summary) Markdown() string {
	var b strings.Builder
	b.WriteString("# gpu-check\n\n")
	keys := make([]string, 0, len(s.Machine))
	for k := range s.Machine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, s.Machine[k])
	}
	if s.Auto != nil {
		fmt.Fprintf(&b, "- backend auto: %s (plugin %s, from %s)\n", s.Auto.Name, orNone(s.Auto.Plugin), orNone(s.Auto.PluginFrom))
	}
	if len(s.Missing) > 0 {
		fmt.Fprintf(&b, "- parts missing (failed or out of time): %s\n", strings.Join(s.Missing, ", "))
	}
	if len(s.Agreement) > 0 {
		b.WriteString("\n## 1. Agreement of xla and native (random weights)\n\n")
		b.WriteString("| network | logits max rel. diff | input-gradient max rel. diff | search inputs | inputs deciding differently, xla vs native | candidates differing | bf16 vs float32 inputs | bf16 candidates | found (native / xla / bf16) | largest conf. diff (same decision) |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, a := range s.Agreement {
			fmt.Fprintf(&b, "| %s | %.2g | %.2g | %d × %d steps | %d | %d of %d | %d | %d | %d / %d / %d | %.2g |\n",
				a.Net, a.LogitsRel, a.InputGradRel, a.Points, a.Iterations, a.XLA.Inputs, a.XLA.Candidates, a.XLA.CandidatesTotal,
				a.BF16.Inputs, a.BF16.Candidates, a.XLA.Found[0], a.XLA.Found[1], a.BF16.Found[1], a.XLA.MaxConfDiff)
		}
	}
	if len(s.Throughput) > 0 || len(s.Torch) > 0 {
		b.WriteString("\n## 2. Throughput of the attack step (image-gradients/s)\n\n")
		b.WriteString("| network | batch | xla float32/TF32 | xla bf16 | torch eager | torch channels_last | torch.compile | torch.compile bf16 | xla ÷ torch.compile | xla bf16 ÷ torch.compile bf16 |\n|---|---|---|---|---|---|---|---|---|---|\n")
		type nb struct {
			net   string
			batch int
		}
		var rows []nb
		seen := map[nb]bool{}
		add := func(net string, batch int) {
			if k := (nb{net, batch}); !seen[k] {
				seen[k] = true
				rows = append(rows, k)
			}
		}
		for _, r := range s.Throughput {
			add(r.Net, r.Batch)
		}
		for _, r := range s.Torch {
			add(r.Net, r.Batch)
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].net != rows[j].net {
				return rows[i].net > rows[j].net // wrn first
			}
			return rows[i].batch < rows[j].batch
		})
		for _, r := range rows {
			x, xb := s.xlaRate(r.net, "float32", r.batch), s.xlaRate(r.net, "bf16", r.batch)
			tc, tcb := s.torchRate(r.net, "compile", r.batch), s.torchRate(r.net, "compile_bf16", r.batch)
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.net, r.batch, num(x), num(xb),
				num(s.torchRate(r.net, "eager", r.batch)), num(s.torchRate(r.net, "channels_last", r.batch)), num(tc), num(tcb),
				div(x, tc), div(xb, tcb))
		}
		var torchVersion, steps string
		for _, t := range s.Torch {
			torchVersion = t.Torch + " on " + t.Device
			steps = fmt.Sprint(t.Steps)
		}
		if torchVersion != "" {
			fmt.Fprintf(&b, "\nPyTorch %s, %s steps per timed call (TF32 allowed in float32 modes, as XLA's DEFAULT precision allows).\n", torchVersion, steps)
		}
	}
	if sl := s.Slice; sl != nil {
		b.WriteString("\n## 3. End-to-end slice of configs/table2.toml (runner)\n\n")
		fmt.Fprintf(&b, "%d points × 9 labels × 1 start × %d iterations at η = 0.03, one unit, on %s (backend %s, plugin %s, batch %d).\n\n",
			sl.Points, sl.Iterations, sl.Executor, sl.Backend, orNone(sl.Plugin), sl.Batch)
		b.WriteString("| gradient evaluations | seconds | compiling | grads/s (excl. compile) | grads/s (incl.) | bare step at its batch | share |\n|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| %d | %.1f | %.1f | %s | %s | %s | %s |\n\n", sl.GradientEvaluations, sl.Seconds, sl.CompileSeconds,
			num(sl.GradsPerS), num(sl.GradsPerSWithCompile), num(sl.StepRate), pct(sl.StepShare))
		b.WriteString("| config | gradient evaluations | projected GPU-hours |\n|---|---|---|\n")
		for _, p := range sl.Projected {
			fmt.Fprintf(&b, "| %s | %d | %.2f |\n", p.Config, p.GradientEvaluations, p.Hours)
		}
	}
	if len(s.Compiles) > 0 {
		b.WriteString("\n## 4. Compile times\n\n| programs | seconds |\n|---|---|\n")
		for _, c := range s.Compiles {
			fmt.Fprintf(&b, "| %s | %.2f |\n", c.What, c.Seconds)
		}
	}
	if len(s.Targets) > 0 {
		b.WriteString("\n## Targets (issue 12)\n\n| target | measured | wanted | met |\n|---|---|---|---|\n")
		for _, t := range s.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %.2f | %.2f %s | %s |\n", t.Name, t.Measured, t.Want, t.Unit, met)
		}
	}
	return b.String()
}

func num(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

func div(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func pct(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
