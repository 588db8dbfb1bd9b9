package attack

// The methods' RowSteps report the work a run plans, in the units of
// Progress: gradient evaluations of one row (one example's forward and
// backward pass), with defaults applied and parameters checked. A runner's
// dry run can multiply it by a measured time per row-step.

// RowSteps returns n·Restarts·Iterations.
func (a *PGD) RowSteps(n, classes int) (int, error) {
	c, err := a.defaults("PGD")
	if err != nil {
		return 0, err
	}
	return n * c.Restarts * c.Iterations, nil
}

// RowSteps returns n·(classes−1)·Restarts·Iterations.
func (a *MaxConfidence) RowSteps(n, classes int) (int, error) {
	c, err := a.PGD.defaults("MaxConfidence")
	if err != nil {
		return 0, err
	}
	return n * (classes - 1) * c.Restarts * c.Iterations, nil
}

// RowSteps returns the budget n·(classes−1)·Restarts·Iterations, reached
// only when no input has a p-confident point.
func (a *CW) RowSteps(n, classes int) (int, error) {
	const method = "CW"
	if err := checkRadius(method, "Eps", a.Eps); err != nil {
		return 0, err
	}
	if err := checkP(method, "P", a.P); err != nil {
		return 0, err
	}
	if err := checkIterations(method, a.Iterations); err != nil {
		return 0, err
	}
	if a.Restarts < 0 {
		return 0, bad(method, "Restarts", a.Restarts, "≥ 0")
	}
	return n * (classes - 1) * max(a.Restarts, 1) * a.Iterations, nil
}

// RowSteps returns n·classes·Iterations.
func (h *HCNN) RowSteps(n, classes int) (int, error) {
	if err := checkIterations("HCNN", h.Iterations); err != nil {
		return 0, err
	}
	return n * classes * h.Iterations, nil
}

// RowSteps returns n·classes·Iterations·(1+Rounds), reached when every label
// is feasible.
func (a *NCN) RowSteps(n, classes int) (int, error) {
	if err := checkIterations("NCN", a.Iterations); err != nil {
		return 0, err
	}
	if a.Rounds < 0 {
		return 0, bad("NCN", "Rounds", a.Rounds, "≥ 0 (0 for 8)")
	}
	r := a.Rounds
	if r == 0 {
		r = 8
	}
	return n * classes * a.Iterations * (1 + r), nil
}

// RowSteps returns n·Iterations.
func (a *Entropy) RowSteps(n, classes int) (int, error) {
	if err := checkIterations("Entropy", a.Iterations); err != nil {
		return 0, err
	}
	return n * a.Iterations, nil
}
