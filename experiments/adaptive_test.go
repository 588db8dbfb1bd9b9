package experiments

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"confrobust/stats"
)

// adaptiveTOML is a small adaptive experiment on the tiny model: a radius
// at which some points resist, two thresholds, two adaptive attacks.
const adaptiveTOML = `[attack]
eta = [0.01]
iterations = 3
[defense]
iterations = 2
[reject]
holdout = 12
keep = [1, 0.8]
[adaptive]
iterations = 3
[[adaptive.attacks]]
name = "margin"
[[adaptive.attacks]]
name = "nbhd"
objective = "neighbourhood"
backward = "unrolled"
`

// TestAdaptiveHoldout: the thresholds come from held-out points that no
// evaluated point is among, computed once per seed and model (journaled,
// shared by both thresholds) before the attacks; P is the threshold that
// keeps the share of the held-out points Γ gets right, τ the detector's;
// with warm starts every adaptive attack breaks whatever the paper's
// attack breaks; and -report rederives the same results from the journal.
func TestAdaptiveHoldout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks")
	}
	p, env := tinyRun(t, Adaptive, adaptiveTOML)
	r, err := Run(context.Background(), p, env, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hold := p.holdoutIndices(p.Settings[0])
	if len(hold) != 12 {
		t.Fatalf("%d held-out points, want 12", len(hold))
	}
	// The calibration is one journaled memo, read back here.
	j, err := OpenJournal(journalDir(p.Config))
	if err != nil {
		t.Fatal(err)
	}
	key, err := p.memoKey(p.Settings[0], struct {
		Calibration adaptiveDefenseKey `json:"calibration"`
	}{defenseKeyOf(p.Config, p.Settings[0])})
	if err != nil {
		t.Fatal(err)
	}
	f, err := j.get(key, 0, 1)
	if err != nil || f == nil {
		t.Fatalf("calibration not journaled: %v", err)
	}
	var held []holdoutPoint
	if err := json.Unmarshal(f.Points, &held); err != nil {
		t.Fatal(err)
	}
	var natural []float64
	for i, h := range held {
		if h.Index != hold[i] {
			t.Fatalf("held-out point %d is test point %d, want %d", i, h.Index, hold[i])
		}
		if h.Pred == h.Label {
			natural = append(natural, h.Conf)
		}
	}
	tau, _ := stats.Threshold(natural, 0.99)
	p80, _ := stats.Threshold(natural, 0.8)
	results := r.Settings.([]adaptiveResult)
	points := r.Points.([][]adaptivePoint)
	if len(results) != 2 || results[0].Keep != 1 || results[1].Keep != 0.8 {
		t.Fatalf("settings %+v, want keep 1 then 0.8", results)
	}
	for s, res := range results {
		wantP := 0.0
		if res.Keep < 1 {
			wantP = p80
		}
		if res.P != wantP || res.Tau != tau {
			t.Errorf("keep %g: P %v τ %v, want %v and %v from the held-out points", res.Keep, res.P, res.Tau, wantP, tau)
		}
		names := []string{}
		for _, a := range res.Attacks {
			names = append(names, a.Name)
		}
		if !slices.Equal(names, []string{PaperAttack, "margin", "nbhd", AllAttacks}) {
			t.Errorf("attacks %v", names)
		}
		for _, pt := range points[s] {
			if slices.Contains(hold, pt.Index) {
				t.Errorf("evaluated point %d is held out", pt.Index)
			}
			for a := 1; a < len(pt.Attacks); a++ {
				if pt.Attacks[0].Success && !pt.Attacks[a].Success {
					t.Errorf("point %d: the paper's attack breaks Γ and adaptive attack %d, warm-started there, does not", pt.Index, a)
				}
			}
		}
		all := res.Attacks[len(res.Attacks)-1].Robust.K
		for _, a := range res.Attacks {
			if a.Robust.K < all || a.Robust.K > res.Clean.K {
				t.Errorf("keep %g: %s robust %d, union %d, clean %d", res.Keep, a.Name, a.Robust.K, all, res.Clean.K)
			}
		}
	}
	// The sample must not be degenerate for the checks above to mean much.
	if results[0].Clean.K == 0 || results[0].Attacks[0].Robust.K == results[0].Clean.K {
		t.Logf("clean %d, robust under the paper's attack %d", results[0].Clean.K, results[0].Attacks[0].Robust.K)
	}
	want := readFile(t, p.Config.Output+"/results.json")
	if _, err := Run(context.Background(), p, env, RunOptions{ReportOnly: true}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p.Config.Output+"/results.json"); string(got) != string(want) {
		t.Error("-report wrote other results")
	}
}

// TestAdaptiveConfigErrors: thresholds are the defender's (reject.p is
// refused), and keys only the adaptive experiment reads are refused
// elsewhere.
func TestAdaptiveConfigErrors(t *testing.T) {
	base := strings.Replace(minimalConfig, `experiment = "rejection"`, `experiment = "adaptive"`, 1)
	base = strings.Replace(base, "[reject]\np = [0.9]\n", "[defense]\niterations = 2\n", 1)
	if _, err := Parse([]byte(base), nil); err != nil {
		t.Fatalf("minimal adaptive config: %v", err)
	}
	for _, tc := range []struct {
		text string
		sets []string
		want string
	}{
		{base, []string{"reject.p=[0.9]"}, "reject.p: the adaptive experiment fixes its thresholds on held-out natural points"},
		{base, []string{"reject.keep=[0]"}, "reject.keep: 0 must be in (0, 1]"},
		{base, []string{"reject.holdout=-1"}, "reject.holdout: -1 must be ≥ 1"},
		{base, []string{`paper="table4"`}, "paper: the adaptive experiment"},
		{base, []string{`defense.method="ncn"`}, "defense.method"},
		{base + "[adaptive]\n[[adaptive.attacks]]\nname = \"a\"\nsamples = 4\n", nil, "needs a random defense"},
		{base + "[adaptive]\n[[adaptive.attacks]]\nname = \"a\"\ninner = 4\n", nil, "only the neighbourhood objective"},
		{base + "[adaptive]\n[[adaptive.attacks]]\nname = \"all\"\n", nil, "reserved"},
		{base + "[adaptive]\n[[adaptive.attacks]]\nname = \"a\"\nobjective = \"loss\"\n", nil, "objective: \"loss\""},
		{minimalConfig, []string{"reject.holdout=100"}, "only experiment = \"adaptive\" reads them"},
		{minimalConfig + "[adaptive]\niterations = 3\n", nil, "only experiment = \"adaptive\" reads the [adaptive] table"},
		{minimalConfig + "[defense]\nrandom_start = true\n", nil, "defense.random_start: only experiment"},
	} {
		_, err := Parse([]byte(tc.text), tc.sets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.sets, err, tc.want)
		}
	}
}
