#!/usr/bin/env bash
# gpu-check.sh: measure engine/xla on a GPU machine, in one run of at most
# 8 minutes, and write OUTDIR/gpu-check.json and OUTDIR/gpu-check.md:
#
#   1. agreement of xla and native (full Madry WideResNet and MNIST CNN,
#      random weights): logits, input gradients, a 20-point max-confidence
#      search (decisions compared; xla bf16 against xla float32 too);
#   2. throughput of the compiled attack step (image-gradients/s) of the
#      WideResNet at batch 128/256/450/512 (float32 with TF32 allowed; bf16
#      at 512) and of the MNIST CNN at 1000, beside PyTorch eager,
#      channels_last, torch.compile and torch.compile with bf16 autocast
#      (scripts/torch_reference.py);
#   3. an end-to-end slice of configs/table2.toml run by the runner itself
#      (50 points × 9 labels × 1 start × 100 iterations on synthetic CIFAR-10
#      records and random Madry-layout weights, backend auto), its rate and
#      the projected time of the full Tables 2 and 4;
#   4. compile times (from every part).
#
# Usage: scripts/gpu-check.sh [OUTDIR]        (run from the repository root)
#
# The machine needs no Go: build the two binaries beforehand, with cgo (XLA
# is linked wherever cgo is), into BIN (default bin):
#
#   CGO_ENABLED=1 go build -o bin/gpucheck ./engine/crosscheck/cmd/gpucheck
#   CGO_ENABLED=1 go build -o bin/runner ./runner
#
# The PJRT CUDA plugin is $CONFROBUST_PJRT_PLUGIN if set, else the newest
# xla_cuda_plugin.so under $PLUGIN_ROOT (default /opt/torch/.venv, where
# jax's lives), resolved without symlinks; the slice's runner finds it by
# itself (backend auto). PyTorch is $PYTHON (default
# /opt/torch/.venv/bin/python); without it the PyTorch columns stay empty.
#
# Environment: BUDGET (seconds for everything, default 470), TORCH_BATCHES
# (eager modes, default 128,256,450,512), TORCH_COMPILE_BATCHES (compile
# modes, default 512,256; the first gets both compile modes first). Every part runs under `timeout` within what is
# left of the budget; a part that fails or runs out of time is reported as
# missing and the others' numbers stay. GPU_CHECK_BACKEND=go runs everything
# on GoMLX's pure-Go backend with tiny networks (the Go test of this script).
set -euo pipefail

out=${1:-${OUT:-./gpu-check-out}}
bin=${BIN:-bin}
py=${PYTHON:-/opt/torch/.venv/bin/python}
budget=${BUDGET:-470}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
start=$SECONDS

die() { echo "gpu-check: $*" >&2; exit 1; }
say() { echo "gpu-check: $*" | tee -a "$out/gpu-check.log" >&2; }

for b in gpucheck runner; do
	[[ -x "$bin/$b" ]] || die "$bin/$b is missing: build it first (CGO_ENABLED=1 go build -o $bin/$b ./$([[ $b == runner ]] && echo runner || echo engine/crosscheck/cmd/gpucheck)), or set BIN"
done
bin=$(cd "$bin" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/gpu-check.log"
rm -f "$out"/{agreement,throughput,slice,slice-setup,auto,gpu-check}.json "$out/torch.jsonl" "$out/gpu-check.md"
cd "$root"

# part NAME LIMIT CMD...: runs CMD under timeout, within the budget left
# (keeping 25 s for the report); logs its output; never stops the script.
part() {
	local name=$1 limit=$2
	shift 2
	local left=$((budget - (SECONDS - start) - 25))
	local t=$((limit < left ? limit : left))
	if ((t < 10)); then
		say "$name: skipped, the budget of ${budget}s is spent"
		return 0
	fi
	say "$name: running (limit ${t}s)"
	local t0=$SECONDS rc=0
	timeout --kill-after=10 "$t" "$@" >>"$out/$name.out" 2>>"$out/gpu-check.log" || rc=$?
	if ((rc == 124 || rc == 137)); then
		say "$name: out of time after $((SECONDS - t0))s"
	elif ((rc != 0)); then
		say "$name: failed (exit $rc) after $((SECONDS - t0))s; see $out/gpu-check.log"
	else
		say "$name: done in $((SECONDS - t0))s"
	fi
	return 0
}

scale=paper torch_device=cuda torch_tiny=() slice_backend=()
batches=128,256,450,512 bf16=512 compile_batches=512,256 mnist=1000 steps=20 points=20 slice_points=50 slice_iters=100
if [[ "${GPU_CHECK_BACKEND:-}" == go ]]; then
	# CPU test: GoMLX's pure-Go backend, tiny networks, a few steps.
	scale=tiny torch_device=cpu torch_tiny=(--tiny)
	batches=4,8 bf16=4 compile_batches=4 mnist=4 steps=2 points=2 slice_points=4 slice_iters=2
	slice_backend=(-slice-backend xla)
	unset CONFROBUST_PJRT_PLUGIN
	export GOMLX_BACKEND=go
	plugin=""
else
	plugin=${CONFROBUST_PJRT_PLUGIN:-$(find "${PLUGIN_ROOT:-/opt/torch/.venv}" -name xla_cuda_plugin.so 2>/dev/null | sort -r | head -n 1 || true)}
	[[ -n "$plugin" ]] || die "no xla_cuda_plugin.so under ${PLUGIN_ROOT:-/opt/torch/.venv}; set CONFROBUST_PJRT_PLUGIN=/abs/path/xla_cuda_plugin.so (pip install \"jax[cuda13]\" ships one)"
	plugin=$(readlink -f "$plugin") # loading through a symlink crashed
	export CONFROBUST_PJRT_PLUGIN=$plugin
fi
# go-xla v0.1.4 points XLA_FLAGS at a hard-coded path when its CUDA check
# finds an nvidia/ folder; never auto-install plugins.
export GOPJRT_CUDA_CHECKS=0 GOMLX_NO_AUTO_INSTALL=1

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(hostname) ($(nproc) cores)"
	echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || echo none)"
	echo "plugin: ${plugin:-none (GoMLX pure-Go backend)}"
	echo "python: $("$py" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)' 2>/dev/null || echo "none ($py)")"
	echo "scale: $scale"
} >"$out/machine.txt"
say "$(tr '\n' ';' <"$out/machine.txt")"

gc=("$bin/gpucheck" -out "$out" -scale "$scale")
# What backend auto picks, found by itself (no $CONFROBUST_PJRT_PLUGIN).
part auto 60 env -u CONFROBUST_PJRT_PLUGIN "${gc[@]}" -part auto
part agree 110 "${gc[@]}" -part agree -steps "$steps" -points "$points"
part throughput 150 "${gc[@]}" -part throughput -batches "$batches" -bf16-batches "$bf16" -mnist-batch "$mnist" -steps "$steps"
have_torch=0
if "$py" -c 'import torch' 2>/dev/null; then
	have_torch=1
	# torch.compile is the bar to beat: measured before the slice.
	part torch-wrn-compile 110 "$py" "$here/torch_reference.py" --net wrn --device "$torch_device" "${torch_tiny[@]}" --steps "$steps" \
		--batches "${TORCH_COMPILE_BATCHES:-$compile_batches}" --modes compile,compile_bf16
else
	say "torch: skipped, $py cannot import torch"
fi
# The slice: the runner on configs/table2.toml, with backend auto finding
# the plugin itself.
part slice-prepare 50 "${gc[@]}" -part slice-prepare -slice-points "$slice_points" -slice-iterations "$slice_iters" "${slice_backend[@]}"
if [[ -f "$out/slice.args" ]]; then
	sets=()
	while IFS= read -r line; do
		[[ -n "$line" ]] && sets+=(-set "$line")
	done <"$out/slice.args"
	if [[ ${#slice_backend[@]} -eq 0 ]] && ! grep -q '"executor": "xla"' "$out/auto.json" 2>/dev/null; then
		say "slice: skipped, backend auto did not pick the GPU (see auto.out and gpu-check.log): the WideResNet on the CPU would not finish"
	else
		part slice-run 120 env -u CONFROBUST_PJRT_PLUGIN "$bin/runner" -config configs/table2.toml -quiet "${sets[@]}"
		part slice-report 20 "${gc[@]}" -part slice-report
	fi
fi
if ((have_torch)); then
	part torch-wrn 60 "$py" "$here/torch_reference.py" --net wrn --device "$torch_device" "${torch_tiny[@]}" --steps "$steps" \
		--batches "${TORCH_BATCHES:-$batches}" --modes eager,channels_last
	part torch-mnist 40 "$py" "$here/torch_reference.py" --net mnist --device "$torch_device" --steps "$steps" \
		--batches "$mnist" --modes eager,compile
	cat "$out"/torch-*.out >"$out/torch.jsonl" 2>/dev/null || true
fi
budget=$((budget + 25)) part report 25 "${gc[@]}" -part report
cat "$out/report.out" 2>/dev/null || true
[[ -f "$out/gpu-check.json" ]] || die "no report written; see $out/gpu-check.log"
say "done in $((SECONDS - start))s: $out/gpu-check.json, $out/gpu-check.md"
