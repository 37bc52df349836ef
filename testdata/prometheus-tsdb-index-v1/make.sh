#!/usr/bin/env bash
# Writes data/<ULID>/ (a block with index format 1) and EXPECTED.json with write_block.go, built
# in GOPATH mode against github.com/prometheus/tsdb at b945098 (TSDB_SRC: a checkout of
# prometheus/tsdb at that commit) and Debian's golang-github-pkg-errors-dev,
# golang-github-cespare-xxhash-dev and golang-golang-x-sys-dev, with Debian's Go 1.19.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${TSDB_SRC:?set TSDB_SRC to a prometheus/tsdb checkout at b945098}"
gopath="$(mktemp -d)"
trap 'rm -rf "$gopath"' EXIT
dst="$gopath/src/github.com/prometheus/tsdb"
for p in chunkenc chunks fileutil index labels; do
    mkdir -p "$dst/$p"
    find "$TSDB_SRC/$p" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$dst/$p/" \;
done
mkdir -p "$gopath/src/writeblock"
cp "$here/write_block.go" "$gopath/src/writeblock/main.go"
(cd "$gopath/src/writeblock" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" go build -o "$gopath/write_block" .)
rm -rf "$here/data"
mkdir -p "$here/data"
"$gopath/write_block" "$here/data"
mv "$here/data/EXPECTED.json" "$here/EXPECTED.json"
go version > "$here/go-version.txt"
