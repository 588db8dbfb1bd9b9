package native

import "sync"

// task is a parallel loop body: it processes the units [lo, hi). Every unit
// must write outputs that no other unit writes and must not depend on how
// the units are split, so that results are the same for any worker count.
type task interface {
	run(lo, hi int)
}

// pool is a fixed set of worker goroutines that run the parts of a parallel
// loop; the calling goroutine runs the first part itself. Dispatching a loop
// allocates nothing.
type pool struct {
	workers int
	jobs    []chan poolJob // one per helper goroutine
	wg      sync.WaitGroup
}

type poolJob struct {
	t      task
	lo, hi int
}

func newPool(workers int) *pool {
	p := &pool{workers: max(workers, 1)}
	for range p.workers - 1 {
		ch := make(chan poolJob)
		p.jobs = append(p.jobs, ch)
		go p.loop(ch)
	}
	return p
}

func (p *pool) loop(ch chan poolJob) {
	for j := range ch {
		j.t.run(j.lo, j.hi)
		p.wg.Done()
	}
}

// run splits [0, n) into at most one contiguous part per worker, none
// smaller than grain units (except when n < grain), and runs t on them.
func (p *pool) run(n, grain int, t task) {
	if n <= 0 {
		return
	}
	parts := min(p.workers, (n+grain-1)/max(grain, 1))
	if parts <= 1 {
		t.run(0, n)
		return
	}
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.jobs[i-1] <- poolJob{t, i * n / parts, (i + 1) * n / parts}
	}
	t.run(0, n/parts)
	p.wg.Wait()
}

// close stops the helper goroutines. It may be called more than once.
func (p *pool) close() {
	for _, ch := range p.jobs {
		close(ch)
	}
	p.jobs = nil
	p.workers = 1
}
