#!/usr/bin/env bash
# Downloads Madry et al.'s pre-trained TensorFlow checkpoints, the models the
# paper attacks, from the URLs in MadryLab/cifar10_challenge/fetch_model.py
# and MadryLab/mnist_challenge/fetch_model.py.
#
# Usage: scripts/fetch-madry.sh [DIR [MODEL...]]
#
# DIR defaults to data/madry. MODEL is one of
#   cifar10-adv_trained  -> DIR/cifar10/models/adv_trained/checkpoint-70000.*
#   cifar10-natural      -> DIR/cifar10/models/naturally_trained/checkpoint-70000.*
#   mnist-adv_trained    -> DIR/mnist/models/adv_trained/checkpoint-*
#   mnist-natural        -> DIR/mnist/models/natural/checkpoint-*
# or a group: cifar10 (both CIFAR-10 models, the default), mnist, all.
# Each zip is extracted under DIR/cifar10 or DIR/mnist because both
# challenges' zips use the folder models/adv_trained.
#
# Integrity: MadryLab publishes no digest of these zips; its fetch_model.py
# only prints the SHA-256 it computes. This script does the same for each zip
# and each extracted file, and says whether one of them equals the digest that
# the challenge's README gives for "our model file" of the secret
# (adversarially trained) model: 555be6e8...05fd4 for CIFAR-10 and
# 14eea09c...7f96d for MNIST. The README does not say which file that digest
# covers, so a mismatch is reported but is not an error; keep the printed sums to
# compare later copies. Set MADRY_BASE_CIFAR10 or MADRY_BASE_MNIST to use a
# mirror (a URL prefix holding the zips under their names).
#
# A model whose folder already holds a checkpoint and an .index file is
# skipped.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
-*) usage >&2; exit 2 ;;
esac

dir=${1:-data/madry}
if [ "$#" -gt 0 ]; then shift; fi
base_cifar10=${MADRY_BASE_CIFAR10:-https://github.com/MadryProj/cifar10_challenge_models/raw/master}
base_mnist=${MADRY_BASE_MNIST:-https://github.com/MadryLab/mnist_challenge_models/raw/master}
readme_cifar10=555be6e892372599380c9da5d5f9802f9cbd098be8a47d24d96937a002305fd4
readme_mnist=14eea09c72092db5c2eb5e34cd105974f42569281d2f34826316e356d057f96d

die() {
	echo "fetch-madry: $*" >&2
	exit 1
}

sha256_of() {
	if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

download() { # url file
	if command -v curl >/dev/null; then
		curl -fL --retry 3 -o "$2.part" "$1"
	elif command -v wget >/dev/null; then
		wget -O "$2.part" "$1"
	else
		die "needs curl or wget"
	fi
	mv "$2.part" "$2"
}

extract() { # zip dir
	if command -v unzip >/dev/null; then
		unzip -o -q "$1" -d "$2"
	elif command -v python3 >/dev/null; then
		python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
	else
		die "needs unzip or python3 to extract $1"
	fi
}

has_checkpoint() { # folder
	[ -f "$1/checkpoint" ] && compgen -G "$1/*.index" >/dev/null
}

# fetch NAME SET ZIP FOLDER README_DIGEST
fetch() {
	local name=$1 set=$2 zip=$3 folder=$4 readme=$5 base url target matched=no f sum
	target=$dir/$set
	if has_checkpoint "$target/$folder"; then
		echo "fetch-madry: $name is already in $target/$folder"
		return
	fi
	if [ "$set" = cifar10 ]; then base=$base_cifar10; else base=$base_mnist; fi
	url=$base/$zip
	mkdir -p "$target"
	echo "fetch-madry: downloading $name from $url"
	download "$url" "$target/$zip"
	sum=$(sha256_of "$target/$zip")
	echo "fetch-madry: SHA-256 $sum  $target/$zip"
	[ "$sum" = "$readme" ] && matched=yes
	extract "$target/$zip" "$target"
	has_checkpoint "$target/$folder" || die "$target/$zip did not give a checkpoint and an .index file in $target/$folder"
	for f in "$target/$folder"/*; do
		[ -f "$f" ] || continue
		sum=$(sha256_of "$f")
		echo "fetch-madry: SHA-256 $sum  $f"
		[ "$sum" = "$readme" ] && matched=yes
	done
	if [ "$name" = "${set}-adv_trained" ]; then
		if [ "$matched" = yes ]; then
			echo "fetch-madry: $name: a file matches the digest in the $set challenge's README"
		else
			echo "fetch-madry: $name: no file matches the README digest $readme (the README does not say which file it covers)"
		fi
	fi
	rm -f "$target/$zip"
	echo "fetch-madry: $name is in $target/$folder"
}

models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(cifar10)
expanded=()
for m in "${models[@]}"; do
	case $m in
	cifar10) expanded+=(cifar10-adv_trained cifar10-natural) ;;
	mnist) expanded+=(mnist-adv_trained mnist-natural) ;;
	all) expanded+=(cifar10-adv_trained cifar10-natural mnist-adv_trained mnist-natural) ;;
	cifar10-adv_trained | cifar10-natural | mnist-adv_trained | mnist-natural) expanded+=("$m") ;;
	*)
		echo "fetch-madry: unknown model $m" >&2
		usage >&2
		exit 2
		;;
	esac
done

for m in "${expanded[@]}"; do
	case $m in
	cifar10-adv_trained) fetch "$m" cifar10 adv_trained.zip models/adv_trained "$readme_cifar10" ;;
	cifar10-natural) fetch "$m" cifar10 natural.zip models/naturally_trained "$readme_cifar10" ;;
	mnist-adv_trained) fetch "$m" mnist adv_trained.zip models/adv_trained "$readme_mnist" ;;
	mnist-natural) fetch "$m" mnist natural.zip models/natural "$readme_mnist" ;;
	esac
done
