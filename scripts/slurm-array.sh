#!/usr/bin/env bash
# SLURM array template: run one experiment config as N shards, then merge.
#
#   go build -o bin/runner ./runner            # once, on a login node
#   sbatch --array=0-7 scripts/slurm-array.sh configs/table2.toml 8
#   # after the array finishes (or as a dependent job):
#   sbatch --dependency=afterok:<array job id> --wrap "scripts/slurm-array.sh configs/table2.toml 8 merge"
#
# Every task writes into the config's output directory on the shared file
# system (one journal file per finished work unit, written atomically), so
# the merge step only aggregates: it reruns the runner without -shard, which
# finds every unit done and writes results.json, results.csv, results.md and
# the plots. A task that is killed (time limit, preemption) loses at most the
# unit in flight: resubmit the same array index and it resumes.
#
# If tasks cannot share one output directory, give each its own with
# -set output=... and merge with: bin/runner -config CONFIG -merge DIR0,DIR1,...
#
#SBATCH --job-name=confrobust
#SBATCH --cpus-per-task=4
#SBATCH --time=12:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
config=${1:?usage: slurm-array.sh CONFIG NSHARDS [merge] [RUNNER FLAGS...]}
n=${2:?usage: slurm-array.sh CONFIG NSHARDS [merge] [RUNNER FLAGS...]}
shift 2
runner=${RUNNER:-bin/runner}
if [ "${1:-}" = merge ]; then
	shift
	exec "$runner" -config "$config" -quiet "$@"
fi
: "${SLURM_ARRAY_TASK_ID:?run under sbatch --array=0-$((n - 1)), or set SLURM_ARRAY_TASK_ID}"
export GOMAXPROCS=${SLURM_CPUS_PER_TASK:-$(nproc)}
exec "$runner" -config "$config" -quiet -shard "$SLURM_ARRAY_TASK_ID/$n" "$@"
