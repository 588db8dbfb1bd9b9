#!/usr/bin/env bash
# Downloads CIFAR-10 (binary version) and extracts it for dataset.CIFAR10.
#
# Usage: scripts/fetch-cifar10.sh [DIR]
#
# DIR defaults to data/cifar10 (dataset.DefaultCIFAR10Dir, relative to the
# repository root). The files land in DIR/cifar-10-batches-bin/
# (data_batch_1.bin ... data_batch_5.bin, test_batch.bin, batches.meta.txt);
# pass DIR to the harness (dataset.CIFAR10(DIR, ...)).
#
# Integrity: the archive's MD5, c32a1d4ab5d03f1284b67883e8d87530, is the one
# the dataset's authors publish on https://www.cs.toronto.edu/~kriz/cifar.html
# (table "Download"); the script stops if it differs. The authors publish no
# SHA-256, so the script prints the archive's SHA-256 for your records rather
# than checking one; set CIFAR10_SHA256 to a digest you trust to check it too.
# CIFAR10_URL and CIFAR10_MD5 override the source and its MD5 (for a mirror).
#
# Running it again does nothing once the six batches are there with the right
# sizes.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
-*) usage >&2; exit 2 ;;
esac
if [ "$#" -gt 1 ]; then
	usage >&2
	exit 2
fi

dir=${1:-data/cifar10}
url=${CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}
want_md5=${CIFAR10_MD5:-c32a1d4ab5d03f1284b67883e8d87530}
want_sha256=${CIFAR10_SHA256:-}
batches="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"
batch_size=30730000 # 10000 records of 1 label byte + 3072 pixel bytes

die() {
	echo "fetch-cifar10: $*" >&2
	exit 1
}

md5_of() {
	if command -v md5sum >/dev/null; then md5sum "$1" | cut -d' ' -f1; else md5 -q "$1"; fi
}
sha256_of() {
	if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
size_of() {
	wc -c <"$1" | tr -d ' '
}

complete() {
	local b
	for b in $batches; do
		[ -f "$dir/cifar-10-batches-bin/$b" ] && [ "$(size_of "$dir/cifar-10-batches-bin/$b")" = "$batch_size" ] || return 1
	done
}

if complete; then
	echo "fetch-cifar10: $dir/cifar-10-batches-bin is already complete"
	exit 0
fi

mkdir -p "$dir"
archive=$dir/cifar-10-binary.tar.gz
if [ ! -f "$archive" ] || [ "$(md5_of "$archive")" != "$want_md5" ]; then
	echo "fetch-cifar10: downloading $url"
	if command -v curl >/dev/null; then
		curl -fL --retry 3 -o "$archive.part" "$url"
	elif command -v wget >/dev/null; then
		wget -O "$archive.part" "$url"
	else
		die "needs curl or wget"
	fi
	mv "$archive.part" "$archive"
fi

got_md5=$(md5_of "$archive")
if [ "$got_md5" != "$want_md5" ]; then
	die "$archive has MD5 $got_md5, want $want_md5 (published on https://www.cs.toronto.edu/~kriz/cifar.html): the download is corrupt or not the CIFAR-10 binary archive"
fi
got_sha256=$(sha256_of "$archive")
echo "fetch-cifar10: MD5 $got_md5 matches the expected one"
echo "fetch-cifar10: SHA-256 $got_sha256 (not published by the authors; keep it to compare later copies)"
if [ -n "$want_sha256" ] && [ "$got_sha256" != "$want_sha256" ]; then
	die "$archive has SHA-256 $got_sha256, want CIFAR10_SHA256=$want_sha256"
fi

tar -xzf "$archive" -C "$dir"
complete || die "$dir/cifar-10-batches-bin lacks a batch of $batch_size bytes after extraction"
rm -f "$archive"
echo "fetch-cifar10: CIFAR-10 is in $dir/cifar-10-batches-bin"
