#!/usr/bin/env bash
# Static checks beyond `go vet`: gofmt and staticcheck (installed into
# $(go env GOPATH)/bin on first use, from the Go module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
sc="$(go env GOPATH)/bin/staticcheck"
[ -x "$sc" ] || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
"$sc" ./...
echo "lint: gofmt, go vet and staticcheck are clean"
