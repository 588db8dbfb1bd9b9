package paper

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	n, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Table1{Points: 300, P: 0.9, Eta: 0.03, AdvTrained: 26, Natural: 277}); n.Table1 != want {
		t.Errorf("Table1 = %+v, want %+v", n.Table1, want)
	}
	p := n.Proposition4
	if p.Confidence != 0.9 || p.AdvTrainedUpper.RatString() != "14/75" ||
		p.NaturalLower.RatString() != "247/300" || p.Delta.RatString() != "8/255" {
		t.Errorf("Proposition4 = %v %s %s %s", p.Confidence, p.AdvTrainedUpper, p.NaturalLower, p.Delta)
	}
	if n.Table2.Points != 1000 || len(n.Table2.Rows) != 12 {
		t.Errorf("Table2: %d points, %d rows; want 1000, 12", n.Table2.Points, len(n.Table2.Rows))
	}
	if n.Table3.Points != 1000 || len(n.Table3.Rows) != 3 {
		t.Errorf("Table3: %d points, %d rows; want 1000, 3", n.Table3.Points, len(n.Table3.Rows))
	}
	for _, test := range []struct {
		table    RejectionTable
		name     string
		eta, p   float64
		want     RejectionRow
		notFound bool
	}{
		{n.Table2, "table2", 0.010, 0.90, RejectionRow{0.010, 0.90, 11.0, 2.2, 86.7}, false},
		{n.Table2, "table2", 0.020, 0.95, RejectionRow{0.020, 0.95, 21.7, 9.0, 85.7}, false},
		{n.Table2, "table2", 0.015, 0.99, RejectionRow{0.015, 0.99, 14.0, 0.3, 75.9}, false},
		{n.Table2, "table2", 0.030, 0.99, RejectionRow{0.030, 0.99, 34.7, 16.0, 76.5}, false},
		{n.Table3, "table3", 0.010, 0.99, RejectionRow{0.010, 0.99, 99.3, 98.9, 92.6}, false},
		{n.Table3, "table3", 0.020, 0.99, RejectionRow{}, true},
	} {
		got, ok := test.table.Row(test.eta, test.p)
		if ok == test.notFound || got != test.want {
			t.Errorf("%s.Row(%v, %v) = %+v, %v; want %+v, %v", test.name, test.eta, test.p, got, ok, test.want, !test.notFound)
		}
	}
	if got := n.Table2.Etas(); len(got) != 4 || got[0] != 0.010 || got[1] != 0.015 || got[2] != 0.020 || got[3] != 0.030 {
		t.Errorf("Table2.Etas() = %v, want [0.01 0.015 0.02 0.03]", got)
	}
	want4 := []Table4{
		{"eta_0_010", 0.010, 0.010, RankCounts{94, 208, 50, 0, 352}, RankCounts{8621, 27, 0, 0, 8648}},
		{"eta_0_015", 0.015, 0.015, RankCounts{114, 260, 66, 29, 469}, RankCounts{8511, 20, 0, 0, 8531}},
	}
	if len(n.Table4) != len(want4) {
		t.Fatalf("Table4 has %d entries, want %d", len(n.Table4), len(want4))
	}
	for i, w := range want4 {
		if n.Table4[i] != w {
			t.Errorf("Table4[%d] = %+v, want %+v", i, n.Table4[i], w)
		}
	}
}

// TestEmbeddedCopy checks the embedded file against the shared transcription when it exists.
func TestEmbeddedCopy(t *testing.T) {
	t.Parallel()
	shared, err := os.ReadFile("../../../shared/paper/tables.toml")
	if err != nil {
		t.Skipf("no shared transcription to compare with: %v", err)
	}
	if !bytes.Equal(shared, Source()) {
		t.Error("results/paper/tables.toml differs from ../shared/paper/tables.toml; copy it again")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	good := string(Source())
	for _, test := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "points = 300\n", "points = 300\ncolor = 3\n", "unknown keys table1.color"},
		{"short row", "[0.010, 0.90, 11.0, 2.2, 86.7]", "[0.010, 0.90, 11.0, 2.2]", "table2.rows[0] has 4 numbers"},
		{"bad rational", `"14/75"`, `"14/x"`, "proposition4.adv_trained_upper"},
		{"bad total", "missing = 0, total = 352", "missing = 0, total = 353", "table4.eta_0_010.label_change: counts add up to 352, total is 353"},
		{"renamed table", "[table3]", "[table3x]", "unknown keys table3x"},
		{"not TOML", "[table1]", "[table1", "results/paper:"},
		{"wrong type", "adv_trained = 26", `adv_trained = "26"`, "results/paper:"},
	} {
		doc := strings.Replace(good, test.old, test.new, 1)
		if doc == good {
			t.Fatalf("%s: %q not in tables.toml", test.name, test.old)
		}
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one containing %q", test.name, err, test.want)
		}
	}
	i, j := strings.Index(good, "[table3]"), strings.Index(good, "[table4]")
	if _, err := Parse([]byte(good[:i] + good[j:])); err == nil || !strings.Contains(err.Error(), "missing table [table3]") {
		t.Errorf("without [table3]: error %v, want missing table [table3]", err)
	}
}
