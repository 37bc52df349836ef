// Decodes the chunks of a file written by the tsdb-block decode bench with Prometheus's own
// tsdb/chunkenc iterators, and prints how long the fastest pass took.
//
// Usage: go-reference FILE RUNS
//
// FILE holds chunks one after another, each as its encoding byte, its data length as a
// little-endian uint32 and its data bytes. Every pass reads every sample of every chunk through
// the iterator a Prometheus query uses (At, AtHistogram or AtFloatHistogram by value type).
// Prints "SAMPLES BYTES SECONDS": the samples of one pass, the chunk data bytes of one pass, and
// the fastest pass in seconds of CPU time (user + system, the whole process, so the garbage
// collector's work counts).
//
// The program is built by the bench in GOPATH mode against a Prometheus source tree found on the
// machine; no Prometheus code is kept with walship.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

type chunk struct {
	enc  chunkenc.Encoding
	data []byte
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func load(path string) ([]chunk, int) {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var chunks []chunk
	total := 0
	for pos := 0; pos < len(raw); {
		if len(raw)-pos < 5 {
			fail("%s: truncated chunk header at offset %d", path, pos)
		}
		enc := chunkenc.Encoding(raw[pos])
		n := int(binary.LittleEndian.Uint32(raw[pos+1 : pos+5]))
		pos += 5
		if len(raw)-pos < n {
			fail("%s: chunk at offset %d claims %d bytes, %d left", path, pos-5, n, len(raw)-pos)
		}
		chunks = append(chunks, chunk{enc, raw[pos : pos+n]})
		total += n
		pos += n
	}
	return chunks, total
}

// sink keeps the compiler from dropping what the iterators return.
var sink int64

func pass(chunks []chunk) (int, error) {
	var it chunkenc.Iterator
	samples := 0
	for _, c := range chunks {
		ch, err := chunkenc.FromData(c.enc, c.data)
		if err != nil {
			return 0, err
		}
		it = ch.Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			switch vt {
			case chunkenc.ValFloat:
				t, v := it.At()
				sink += t + int64(v)
			case chunkenc.ValHistogram:
				t, h := it.AtHistogram()
				sink += t + int64(h.Count) + int64(len(h.PositiveBuckets))
			case chunkenc.ValFloatHistogram:
				t, h := it.AtFloatHistogram()
				sink += t + int64(h.Count) + int64(len(h.PositiveBuckets))
			}
			samples++
		}
		if err := it.Err(); err != nil {
			return 0, err
		}
	}
	return samples, nil
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: go-reference FILE RUNS")
	}
	chunks, bytes := load(os.Args[1])
	runs, err := strconv.Atoi(os.Args[2])
	if err != nil || runs < 1 {
		fail("RUNS must be a positive number, not %q", os.Args[2])
	}
	best := time.Duration(1<<63 - 1)
	samples := 0
	for i := 0; i < runs; i++ {
		start := cpuTime()
		n, err := pass(chunks)
		if d := cpuTime() - start; d < best {
			best = d
		}
		if err != nil {
			fail("%v", err)
		}
		samples = n
	}
	fmt.Printf("%d %d %.9f\n", samples, bytes, best.Seconds())
}

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
