package experiments

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard selects a deterministic slice of a run's work units: shard K of N
// runs the units u with u mod N = K. The zero value (and 0/1) runs everything.
// With SLURM, `#SBATCH --array=0-3` and `-shard $SLURM_ARRAY_TASK_ID/4`
// spread a run over four tasks.
type Shard struct {
	K, N int
}

// ParseShard parses "k/n" with 0 ≤ k < n; the empty string is the whole run.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 0 || k >= n {
		return Shard{}, fmt.Errorf("experiments: shard %q: want k/n with 0 <= k < n, e.g. 0/4", s)
	}
	return Shard{k, n}, nil
}

// Owns reports whether the shard runs the unit.
func (s Shard) Owns(unit int) bool {
	if s.N <= 1 {
		return true
	}
	return unit%s.N == s.K
}

// String returns "k/n".
func (s Shard) String() string {
	if s.N <= 1 {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}
