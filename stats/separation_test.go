package stats

import (
	"math"
	"math/big"
	"testing"
)

func TestProposition4(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		name      string
		k, n      int
		side      Side
		step      *big.Rat
		t         string // exact half-width
		failure   string // exact 1/(4nt²)
		bound     string
		cp, hoeff float64
	}{
		// Proposition 4, first bullet: adversarially trained model, 26 of 300.
		{"adv-trained", 26, 300, Upper, PaperStep(), "1/10", "1/12", "14/75",
			0.11129760166165896, 26.0/300 + 0.061948703147497307},
		// Second bullet: natural model, 277 of 300.
		{"natural", 277, 300, Lower, PaperStep(), "1/10", "1/12", "247/300",
			0.89976213081085664, 277.0/300 - 0.061948703147497307},
		// A finer step: the smallest multiple of 1/1000 above 0.0913 is 0.092 = 23/250;
		// 1/(4·300·(23/250)²) = 625/6348 and 13/150 + 23/250 = 67/375.
		{"step 1/1000", 26, 300, Upper, big.NewRat(1, 1000), "23/250", "625/6348", "67/375",
			0.11129760166165896, 26.0/300 + 0.061948703147497307},
		// Clamped at 1.
		{"clamped", 295, 300, Upper, PaperStep(), "1/10", "1/12", "1",
			1 - 0.0, 1},
	} {
		t.Run(test.name, func(t *testing.T) {
			s, err := Proposition4(test.k, test.n, 0.9, test.side, test.step)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.T.RatString(); got != test.t {
				t.Errorf("T = %s, want %s", got, test.t)
			}
			if got := s.Failure.RatString(); got != test.failure {
				t.Errorf("Failure = %s, want %s", got, test.failure)
			}
			if got := s.Bound.RatString(); got != test.bound {
				t.Errorf("Bound = %s, want %s", got, test.bound)
			}
			if s.Failure.Cmp(big.NewRat(1, 10)) > 0 {
				t.Errorf("Failure %s > 1 − level", s.Failure.RatString())
			}
			if !near(s.MinT, 0.091287092917527686, 1e-15) {
				t.Errorf("MinT = %.17g, want 1/(2 sqrt(30)) = 0.091287092917527686", s.MinT)
			}
			if test.name != "clamped" {
				if !near(s.ClopperPearson, test.cp, 1e-10) {
					t.Errorf("ClopperPearson = %.17g, want %.17g", s.ClopperPearson, test.cp)
				}
				if !near(s.Hoeffding, test.hoeff, 1e-14) {
					t.Errorf("Hoeffding = %.17g, want %.17g", s.Hoeffding, test.hoeff)
				}
			}
		})
	}
}

func TestProposition4Values(t *testing.T) {
	t.Parallel()
	s, err := Proposition4(26, 300, 0.9, Upper, PaperStep())
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Bound.Float64(); f != 14.0/75 || math.Abs(f-0.18667) > 1e-5 {
		t.Errorf("Bound = %v, want 14/75 = 0.18667", f)
	}
	if s.Estimate.RatString() != "13/150" {
		t.Errorf("Estimate = %s, want 13/150", s.Estimate.RatString())
	}
}

func TestProposition4Unrounded(t *testing.T) {
	t.Parallel()
	s, err := Proposition4(26, 300, 0.9, Upper, nil)
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := s.T.Float64()
	if !near(tf, 0.091287092917527686, 1e-15) {
		t.Errorf("T = %.17g, want 0.091287092917527686", tf)
	}
	if s.Failure.Cmp(new(big.Rat).SetFloat64(0.1)) > 0 {
		t.Errorf("Failure = %s exceeds 1 − level", s.Failure.FloatString(20))
	}
	if b, _ := s.Bound.Float64(); !near(b, 26.0/300+0.091287092917527686, 1e-15) {
		t.Errorf("Bound = %.17g", b)
	}
}

func TestChebyshevT(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		n     int
		level float64
		want  float64
	}{
		{300, 0.9, 0.091287092917527686}, // 1/(2 sqrt(30))
		{100, 0.75, 0.1},                 // 1/(2 sqrt(25))
		{1, 0.75, 1},
	} {
		got, err := ChebyshevT(test.n, test.level)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, test.want, 1e-15) {
			t.Errorf("ChebyshevT(%d, %v) = %.17g, want %.17g", test.n, test.level, got, test.want)
		}
	}
}

func TestProposition4Errors(t *testing.T) {
	t.Parallel()
	if _, err := Proposition4(26, 300, 0.9, Upper, big.NewRat(0, 1)); err == nil {
		t.Error("zero step: no error")
	}
	if _, err := Proposition4(26, 300, 0.9, Upper, big.NewRat(-1, 10)); err == nil {
		t.Error("negative step: no error")
	}
	if _, err := Proposition4(26, 300, 0.9, Upper, big.NewRat(1, 1e15)); err == nil {
		t.Error("tiny step: no error")
	}
	if _, err := Proposition4(301, 300, 0.9, Upper, nil); err == nil {
		t.Error("k > n: no error")
	}
	if _, err := Proposition4(1, 300, 0.9, Side(2), nil); err == nil {
		t.Error("bad side: no error")
	}
}
