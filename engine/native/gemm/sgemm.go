package gemm

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// Go is the pure-Go (no cgo) blocked, packed SGEMM. Create it with NewGo; a
// Go is safe for concurrent use by multiple goroutines.
//
// Each call splits C into blocks and hands them to a fixed pool of worker
// goroutines, started on first use and stopped when the Go is garbage
// collected. Results are bit-identical whatever the number of threads (see
// the package documentation). Between calls a Go keeps its packing buffers:
// about 400 KiB per thread, and up to 16 MiB for a packed op(B).
type Go struct {
	threads int
	kern    *microKernel
	narrow  *microKernel // for products with at most narrow.nr columns, or nil
	// Variants for tests and benchmarks.
	packA      bool // always pack A
	noPrepackB bool // pack B per block of C, never once per call

	start sync.Once
	work  chan *job      // blocks of work for the pool
	bufs  chan *packBufs // free packing buffers, reused across calls
	bigB  chan *sharedB  // free buffers for all of op(B), reused across calls
	jobs  sync.Pool      // free *job values
}

// NewGo returns a pure-Go kernel that runs on threads goroutines; threads <= 0
// means runtime.GOMAXPROCS(0) at the time of the call. It uses the fastest
// micro-kernel the CPU supports: AVX-512 (with AVX2 for products of at most
// 16 columns) or AVX2 assembly on amd64, unless built with the noasm tag;
// portable Go elsewhere.
func NewGo(threads int) *Go {
	ks := kernels()
	g := newGo(threads, ks[0])
	// A narrower kernel computes the same bits (see TestSameBitsAcross-
	// AssemblyKernels) and wastes less on products with few columns.
	if len(ks) > 2 && ks[1].nr < ks[0].nr {
		g.narrow = ks[1]
	}
	return g
}

// MicroKernels returns the names of the micro-kernels this CPU and build
// can run, fastest first, for NewGoWith; the last is always "go4x4", the
// portable one.
func MicroKernels() []string {
	var names []string
	for _, k := range kernels() {
		names = append(names, k.name)
	}
	return names
}

// NewGoWith is like NewGo but always uses the named micro-kernel (one of
// MicroKernels), for example "go4x4" to get the portable kernel's rounding
// on any machine, or "avx2-6x16" where AVX-512 slows the clock down. It
// returns an error if this CPU or build cannot run that kernel.
func NewGoWith(threads int, microKernel string) (*Go, error) {
	for _, k := range kernels() {
		if k.name == microKernel {
			return newGo(threads, k), nil
		}
	}
	return nil, fmt.Errorf("gemm: micro-kernel %q not available (have %v)", microKernel, MicroKernels())
}

func newGo(threads int, kern *microKernel) *Go {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Go{
		threads: threads,
		kern:    kern,
		bufs:    make(chan *packBufs, 2*threads),
		bigB:    make(chan *sharedB, 1),
	}
}

// Name implements Kernel. It names the micro-kernel and the thread count,
// e.g. "go-avx2-6x16-t2".
func (g *Go) Name() string {
	name := "go-" + g.kern.name + "-t" + strconv.Itoa(g.threads)
	if g.packA {
		name += "-packA"
	}
	if g.noPrepackB {
		name += "-noPrepackB"
	}
	return name
}

// Threads returns the number of goroutines a call may use.
func (g *Go) Threads() int { return g.threads }

// maxPrepackB bounds the elements of op(B) packed once per call; a larger
// op(B) is packed piece by piece for each block of C.
const maxPrepackB = 4 << 20

// minParallelFlops is the work below which a call runs on the calling
// goroutine only: waking workers costs more than it saves.
const minParallelFlops = 2 * 64 * 64 * 64

// Sgemm implements Kernel. It panics on bad dimensions, leading dimensions or
// slice lengths. Inputs are not modified; c must not overlap a or b.
func (g *Go) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}

	j, _ := g.jobs.Get().(*job)
	if j == nil {
		j = new(job)
	}
	kern := g.kern
	if g.narrow != nil && n <= g.narrow.nr {
		kern = g.narrow
	}
	*j = job{
		g:      g,
		kern:   kern,
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	}
	threads := g.threads
	if 2*m*n*k < minParallelFlops {
		threads = 1
	}
	j.plan(threads)
	if j.tilesM > 1 && k > j.kc && k*n <= maxPrepackB && !g.noPrepackB {
		// Every block row would pack the same B: pack it once. (Not when
		// K is one block: then two threads ran slower sharing B than
		// packing it each, though one thread ran faster; unexplained.)
		j.prepackB = true
		j.npad = (n + j.kern.nr - 1) / j.kern.nr * j.kern.nr
		kBlocks := (k + j.kc - 1) / j.kc
		j.shared = g.getSharedB(k*j.npad, kBlocks*j.tilesN)
	}
	helpers := min(threads, j.tilesM*j.tilesN) - 1
	if helpers > 0 {
		g.start.Do(g.startWorkers)
		j.wg.Add(helpers)
		for range helpers {
			g.work <- j
		}
	}
	j.run()
	j.wg.Wait()
	if j.prepackB {
		g.putSharedB(j.shared)
	}
	*j = job{}
	g.jobs.Put(j)
}

// startWorkers starts threads-1 workers; the calling goroutine is the last
// one. The workers see only the channel, so a cleanup can stop them once
// the Go is unreachable.
func (g *Go) startWorkers() {
	g.work = make(chan *job, g.threads)
	for range g.threads - 1 {
		go worker(g.work)
	}
	runtime.AddCleanup(g, func(work chan *job) { close(work) }, g.work)
}

func worker(work <-chan *job) {
	for j := range work {
		j.run()
		j.wg.Done()
	}
}

// packBufs holds one goroutine's packed blocks of A and B and a scratch
// tile for the edges of C.
type packBufs struct {
	a, b []float32
	tile []float32
}

func (g *Go) getBufs() *packBufs {
	select {
	case p := <-g.bufs:
		return p
	default:
		var a, b, tile int
		for _, k := range [...]*microKernel{g.kern, g.narrow} {
			if k == nil {
				continue
			}
			mc := (k.mc + k.mr - 1) / k.mr * k.mr
			nc := (k.nc + k.nr - 1) / k.nr * k.nr
			a, b, tile = max(a, mc*k.kc), max(b, k.kc*nc), max(tile, k.mr*k.nr)
		}
		return &packBufs{
			a:    make([]float32, a),
			b:    make([]float32, b),
			tile: make([]float32, tile),
		}
	}
}

func (g *Go) putBufs(p *packBufs) {
	select {
	case g.bufs <- p:
	default:
	}
}

// sharedB holds all of op(B), packed once per call and shared by the
// blocks of C. Piece (K block kb, column block tj) has state[kb*tilesN+tj]:
// 0 not packed, 1 being packed, 2 packed.
type sharedB struct {
	data  []float32
	state []pieceState
}

// pieceState is the state of one piece of a sharedB, alone in its cache
// line: the goroutines read it for every block of C.
type pieceState struct {
	atomic.Uint32
	_ [60]byte
}

// getSharedB returns a sharedB with room for size elements and pieces
// pieces, all marked not packed.
func (g *Go) getSharedB(size, pieces int) *sharedB {
	var s *sharedB
	select {
	case s = <-g.bigB:
	default:
		s = new(sharedB)
	}
	if cap(s.data) < size {
		s.data = make([]float32, size)
	}
	s.data = s.data[:size]
	if cap(s.state) < pieces {
		s.state = make([]pieceState, pieces)
	}
	s.state = s.state[:pieces]
	for i := range s.state {
		s.state[i].Store(0)
	}
	return s
}

func (g *Go) putSharedB(s *sharedB) {
	select {
	case g.bigB <- s:
	default:
	}
}

// job is one Sgemm call, shared by the goroutines that work on it.
type job struct {
	g              *Go
	kern           *microKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int

	// Blocking: C is cut into tilesM×tilesN blocks of at most mc×nc; K
	// into blocks of at most kc, the same for every block of C.
	mc, nc, kc     int
	tilesM, tilesN int
	directA        bool // micro-kernels read A in place, not packed

	// Packed op(B), shared by all blocks of C, when prepackB: K block
	// p0 holds ceil(n/nr) panels from shared.data[p0*npad], each kb×nr.
	prepackB bool
	shared   *sharedB
	npad     int

	next atomic.Int64 // next block of C to compute
	wg   sync.WaitGroup
}

// split returns a block size, a multiple of unit no larger than roundUp(limit,
// unit), that cuts size into blocks of nearly equal work, and the number of
// blocks.
func split(size, limit, unit, parts int) (block, count int) {
	parts = max(parts, (size+limit-1)/limit)
	block = (size + parts - 1) / parts
	block = (block + unit - 1) / unit * unit
	return block, (size + block - 1) / block
}

// plan chooses the blocking. The K blocking depends only on k and the
// micro-kernel, never on threads: that is what makes the results independent
// of the thread count. The M and N blocking may depend on threads, since
// every element of C is computed the same way wherever its block lies.
func (j *job) plan(threads int) {
	kern := j.kern
	// Reading A in place saves packing it. (Packing it when its rows lie
	// a multiple of 2 KiB apart, and so in few cache sets, was slower on
	// AMD Zen with AVX-512.)
	j.directA = !j.g.packA
	j.kc, _ = split(j.k, kern.kc, 1, 1)
	j.mc, j.tilesM = split(j.m, kern.mc, kern.mr, 1)
	j.nc, j.tilesN = split(j.n, kern.nc, kern.nr, 1)
	if threads == 1 {
		return
	}
	// Aim at a few blocks per thread for load balance (more, smaller blocks
	// cost a third of the throughput per core on the weight gradient of
	// MNIST's conv2, which re-reads B for every block). Cut M first: every
	// block row shares one packing of B. But if C has a single block row
	// (few rows, as in fully connected layers) cut N first, so that B is
	// still packed block by block, never all at once.
	want := 4 * threads
	splitM := func() {
		if j.tilesM*j.tilesN < want {
			parts := (want + j.tilesN - 1) / j.tilesN
			j.mc, j.tilesM = split(j.m, kern.mc, kern.mr, parts)
		}
	}
	splitN := func() {
		if j.tilesM*j.tilesN < want {
			parts := (want + j.tilesM - 1) / j.tilesM
			j.nc, j.tilesN = split(j.n, kern.nc, kern.nr, parts)
		}
	}
	if j.tilesM == 1 {
		splitN()
		splitM()
	} else {
		splitM()
		splitN()
	}
}

// run computes blocks of C until none is left.
func (j *job) run() {
	bufs := j.g.getBufs()
	total := int64(j.tilesM * j.tilesN)
	for {
		t := j.next.Add(1) - 1
		if t >= total {
			break
		}
		ti, tj := int(t)%j.tilesM, int(t)/j.tilesM
		j.block(bufs, ti*j.mc, tj*j.nc)
	}
	j.g.putBufs(bufs)
}

// block computes the block of C whose top-left element is (i0, j0), looping
// over all of K.
func (j *job) block(bufs *packBufs, i0, j0 int) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	mb := min(j.mc, j.m-i0)
	nb := min(j.nc, j.n-j0)
	for p0 := 0; p0 < j.k; p0 += j.kc {
		kb := min(j.kc, j.k-p0)
		// Full panels of A are read in place (unless the packA variant
		// is set); a last, partial one is packed with zero rows.
		full := mb / mr * mr
		if !j.directA {
			packA(bufs.a, j.transA, j.a, j.lda, i0, p0, mb, kb, mr)
		} else if full < mb {
			packA(bufs.a, j.transA, j.a, j.lda, i0+full, p0, mb-full, kb, mr)
		}
		packedB := j.panelsB(bufs, p0, j0, kb, nb)
		beta := j.beta
		if p0 > 0 {
			beta = 1
		}
		for jr := 0; jr < nb; jr += nr {
			bp := &packedB[jr*kb]
			nw := min(nr, nb-jr)
			for ir := 0; ir < mb; ir += mr {
				ap, as, ps := &bufs.a[0], 1, mr
				switch {
				case !j.directA:
					ap = &bufs.a[ir*kb]
				case ir < full && j.transA:
					ap, as, ps = &j.a[p0*j.lda+i0+ir], 1, j.lda
				case ir < full:
					ap, as, ps = &j.a[(i0+ir)*j.lda+p0], j.lda, 1
				}
				mw := min(mr, mb-ir)
				ci := (i0+ir)*j.ldc + j0 + jr
				if mw == mr && nw == nr {
					kern.fn(kb, ap, bp, &j.c[ci], j.ldc, as, ps, j.alpha, beta)
					continue
				}
				// Edge: run the same kernel on a scratch tile so that
				// every element of C is computed the same way.
				tile := bufs.tile
				if beta != 0 {
					for i := range mw {
						copy(tile[i*nr:i*nr+nw], j.c[ci+i*j.ldc:])
					}
				}
				kern.fn(kb, ap, bp, &tile[0], nr, as, ps, j.alpha, beta)
				for i := range mw {
					copy(j.c[ci+i*j.ldc:ci+i*j.ldc+nw], tile[i*nr:])
				}
			}
		}
	}
}

// transposer stores the transpose of the n×n block at src (row r at
// src[r*lds]) into dst (row c at dst[c*ldd]).
type transposer struct {
	n  int
	fn func(dst, src *float32, ldd, lds int)
}

// blockTranspose is the fastest transposer the CPU has; n == 0 where it has
// none.
var blockTranspose transposer

// panelsB returns the packed kb×nb block of op(B) at (p0, j0). With a
// shared op(B) it packs the piece there unless another goroutine has or is
// doing it; if one is doing it, it packs a private copy into bufs rather
// than wait, so that no goroutine ever waits for another (which could be
// descheduled). Either way the data, and so the result, are the same.
func (j *job) panelsB(bufs *packBufs, p0, j0, kb, nb int) []float32 {
	if j.prepackB {
		const (
			notPacked = iota
			packing
			packed
		)
		panels := j.shared.data[p0*j.npad+j0*kb:]
		state := &j.shared.state[p0/j.kc*j.tilesN+j0/j.nc]
		switch state.Load() {
		case packed:
			return panels
		case notPacked:
			if state.CompareAndSwap(notPacked, packing) {
				packB(panels, j.transB, j.b, j.ldb, p0, j0, kb, nb, j.kern.nr)
				state.Store(packed)
				return panels
			}
		}
	}
	packB(bufs.b, j.transB, j.b, j.ldb, p0, j0, kb, nb, j.kern.nr)
	return bufs.b
}

// packA copies the mb×kb block of op(A) at (i0, p0) into dst as
// ceil(mb/mr) panels; panel r holds rows r*mr.. as dst[r*mr*kb+p*mr+i].
// Rows past mb are zero.
func packA(dst []float32, trans bool, a []float32, lda, i0, p0, mb, kb, mr int) {
	for r := 0; r < mb; r += mr {
		panel := dst[r*kb : (r+mr)*kb]
		rows := min(mr, mb-r)
		if trans {
			// A is stored k×m: row p of the panel is contiguous.
			for p := range kb {
				src := a[(p0+p)*lda+i0+r:]
				d := panel[p*mr : p*mr+mr]
				copy(d, src[:rows])
				clear(d[rows:])
			}
			continue
		}
		for i := range rows {
			src := a[(i0+r+i)*lda+p0:]
			src = src[:kb]
			for p, v := range src {
				panel[p*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for p := range kb {
				panel[p*mr+i] = 0
			}
		}
	}
}

// packB copies the kb×nb block of op(B) at (p0, j0) into dst as
// ceil(nb/nr) panels; panel s holds columns s*nr.. as dst[s*nr*kb+p*nr+j].
// Columns past nb are zero.
func packB(dst []float32, trans bool, b []float32, ldb, p0, j0, kb, nb, nr int) {
	for s := 0; s < nb; s += nr {
		panel := dst[s*kb : (s+nr)*kb]
		cols := min(nr, nb-s)
		if !trans {
			for p := range kb {
				src := b[(p0+p)*ldb+j0+s:]
				d := panel[p*nr : p*nr+nr]
				copy(d, src[:cols])
				clear(d[cols:])
			}
			continue
		}
		// B is stored n×k: column j of op(B) is row j of B. Columns
		// before full and rows before done go by blocks of t.n×t.n.
		full, done := 0, 0
		if t := blockTranspose; t.n > 0 {
			full, done = cols/t.n*t.n, kb/t.n*t.n
			for jj := 0; jj < full; jj += t.n {
				for p := 0; p < done; p += t.n {
					t.fn(&panel[p*nr+jj], &b[(j0+s+jj)*ldb+p0+p], nr, ldb)
				}
			}
		}
		for jj := range cols {
			start := 0
			if jj < full {
				start = done
			}
			src := b[(j0+s+jj)*ldb+p0:]
			src = src[:kb]
			for p := start; p < kb; p++ {
				panel[p*nr+jj] = src[p]
			}
		}
		for jj := cols; jj < nr; jj++ {
			for p := range kb {
				panel[p*nr+jj] = 0
			}
		}
	}
}
