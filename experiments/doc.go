// Package experiments runs the protocols of Section 5 of Wu et al. (ICML
// 2018) as resumable, shardable jobs: a run is split into work units whose
// results a Journal keeps on disk, so a killed run resumes where it stopped
// and shards of a run merge into the same results as one run.
package experiments
