#!/usr/bin/env bash
# gpu-check.sh: check and time engine/xla on a GPU machine next to PyTorch.
#
# Usage: scripts/gpu-check.sh XLACHECK_BINARY [OUTDIR]
#
# Builds nothing: XLACHECK_BINARY is engine/crosscheck/cmd/xlacheck built beforehand
# on a machine with Go (the GPU machine has none):
#
#   CGO_ENABLED=1 go build -tags xla -o bin/xlacheck ./engine/crosscheck/cmd/xlacheck
#
# The PJRT CUDA plugin is $CONFROBUST_PJRT_PLUGIN if set, else the first
# xla_cuda_plugin.so under /opt/torch/.venv (jax's), resolved to an absolute
# path without symlinks (loading through a symlink crashed). PyTorch is
# $PYTHON, default /opt/torch/.venv/bin/python.
#
# Prints, per network (Madry MNIST CNN at batch 1000, WideResNet at batch 256,
# random weights): logits and input-gradient agreement (max relative
# difference) with engine/native, the CPU engine, on the same weights and
# inputs, with the float64 reference, and between XLA's native and the
# portable convolutions; input
# gradients/s and PGD image-steps/s of engine/xla and of
# scripts/torch_reference.py in PyTorch's default (TF32 convolutions), strict
# FP32 and torch.compile settings; and the ratios. All output is also written
# to OUTDIR (default $OUT or ./gpu-check-out).
#
# Environment: ARCHS ("mnist wrn"), STEPS (20 PGD steps per timing),
# MNIST_UNROLL (10) and WRN_UNROLL (2) steps per compiled program,
# TORCH_COMPILE= to skip the torch.compile runs. Expect several minutes; on a
# lease with a per-command limit run ARCHS=mnist and ARCHS=wrn separately.
set -euo pipefail

bin=${1:?usage: scripts/gpu-check.sh XLACHECK_BINARY [OUTDIR]}
out=${2:-${OUT:-./gpu-check-out}}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-/opt/torch/.venv/bin/python}
mkdir -p "$out"
log="$out/gpu-check.txt"
: >"$log"
say() { echo "$@" | tee -a "$log"; }

plugin=${CONFROBUST_PJRT_PLUGIN:-$(find /opt/torch/.venv -name xla_cuda_plugin.so 2>/dev/null | head -n 1)}
if [[ -z "$plugin" ]]; then
	say "gpu-check: no xla_cuda_plugin.so under /opt/torch/.venv; set CONFROBUST_PJRT_PLUGIN=/abs/path/xla_cuda_plugin.so (pip install jax[cuda13] ships one)"
	exit 1
fi
plugin=$(readlink -f "$plugin")
export CONFROBUST_PJRT_PLUGIN=$plugin GOPJRT_CUDA_CHECKS=0 GOMLX_NO_AUTO_INSTALL=1
say "plugin: $plugin"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$log" || true

steps=${STEPS:-20}
run() { say "\$ $*"; "$@" 2>&1 | tee -a "$log"; }

archs=${ARCHS:-mnist wrn} # ARCHS=wrn runs one network (to fit a call's time limit)

# engine/xla: check against engine/native and the reference, then time.
# MNIST's steps are short, so more of them go into one compiled program.
for arch in $archs; do
	case $arch in
	mnist) run "$bin" -arch mnist -batch 1000 -steps "$steps" -unroll "${MNIST_UNROLL:-10}" -check 2 || say "xlacheck mnist failed" ;;
	wrn) run "$bin" -arch wrn -batch 256 -steps "$steps" -unroll "${WRN_UNROLL:-2}" -check 1 || say "xlacheck wrn failed" ;;
	*) say "gpu-check: unknown network $arch" && exit 2 ;;
	esac
done

# PyTorch on the same GPU.
for arch in $archs; do
	for prec in default fp32; do
		run "$py" "$here/torch_reference.py" --arch "$arch" --steps "$steps" --precision "$prec" || say "torch $arch $prec failed"
	done
	if [[ -n "${TORCH_COMPILE-1}" ]]; then  # TORCH_COMPILE= skips it
		run "$py" "$here/torch_reference.py" --arch "$arch" --steps "$steps" --precision default --compile || say "torch.compile $arch failed"
	fi
done

# Ratios: engine/xla over each PyTorch setting, per network and measurement.
say ""
say "== ratios (engine/xla / PyTorch; > 1 means engine/xla is faster)"
awk '
/^RESULT/ {
	delete kv
	for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	impl = ("impl" in kv) ? kv["impl"] "/" kv["precision"] : "xla"
	rate = (kv["what"] == "pgd") ? kv["image_steps_per_s"] : kv["images_per_s"]
	if (rate == "") next
	key = kv["arch"] " " kv["what"]
	r[key, impl] = rate
	if (!(impl in seen)) { seen[impl] = 1; impls[++ni] = impl }
	if (!(key in keys)) { keys[key] = 1; order[++nk] = key }
}
END {
	for (k = 1; k <= nk; k++) {
		key = order[k]
		if (!((key, "xla") in r)) continue
		line = sprintf("%-16s xla %10.1f/s", key, r[key, "xla"])
		for (i = 1; i <= ni; i++) {
			if (impls[i] == "xla" || !((key, impls[i]) in r)) continue
			line = line sprintf("  %s %.1f/s (x%.2f)", impls[i], r[key, impls[i]], r[key, "xla"] / r[key, impls[i]])
		}
		print line
	}
}' "$log" | tee -a "$out/ratios.txt" | tee -a "$log"
