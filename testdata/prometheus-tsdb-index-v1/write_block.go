// Command write_block writes one block with index format 1, the format Prometheus 2.0 wrote,
// using the index, chunk and XOR writers of Prometheus's tsdb library as they were before
// index format 2 (github.com/prometheus/tsdb at b945098, 2017-12-01), called the way that
// version's compactor called them. Then it reads the block back with that version's readers and
// writes what they read to EXPECTED.json.
//
// Written for walship; it contains no Prometheus code. See README.md for how it is built.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/tsdb/chunkenc"
	"github.com/prometheus/tsdb/chunks"
	"github.com/prometheus/tsdb/index"
	"github.com/prometheus/tsdb/labels"
)

const ulid = "01BZJ6V1NDEXF0RMATV1000000"

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// rng is a fixed pseudo-random sequence (xorshift64), so that the block is the same every run.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

type sample struct {
	T int64  `json:"t"`
	V string `json:"v"` // IEEE-754 bits, hex
}

type series struct {
	Labels  map[string]string `json:"labels"`
	Samples []sample          `json:"samples"`
}

func makeSeries() []labels.Labels {
	var out []labels.Labels
	long := strings.Repeat("long-value-", 15)
	for i := 0; i < 48; i++ {
		l := map[string]string{
			"__name__": []string{"node_cpu_seconds_total", "http_requests_total", "go_gc_duration_seconds", "up"}[i%4],
			"job":      []string{"node", "api", "prometheus"}[i%3],
			"instance": fmt.Sprintf("host-%02d:9100", i/4),
		}
		switch i % 6 {
		case 1:
			l["path"] = "/ünïcode/π"
		case 2:
			l["quantile"] = "0.99"
		case 3:
			l["detail"] = long
		}
		out = append(out, labels.FromMap(l))
	}
	sort.Slice(out, func(a, b int) bool { return labels.Compare(out[a], out[b]) < 0 })
	return out
}

func main() {
	dir := os.Args[1]
	block := filepath.Join(dir, ulid)
	check(os.MkdirAll(block, 0o755))
	chunkw, err := chunks.NewWriter(filepath.Join(block, "chunks"))
	check(err)
	indexw, err := index.NewWriter(filepath.Join(block, "index"))
	check(err)

	all := makeSeries()
	symbols := map[string]struct{}{}
	values := map[string]map[string]struct{}{}
	for _, l := range all {
		for _, p := range l {
			symbols[p.Name] = struct{}{}
			symbols[p.Value] = struct{}{}
			if values[p.Name] == nil {
				values[p.Name] = map[string]struct{}{}
			}
			values[p.Name][p.Value] = struct{}{}
		}
	}
	check(indexw.AddSymbols(symbols))

	r := rng(0x9E3779B97F4A7C15)
	postings := index.NewMemPostings()
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	var numSamples, numChunks uint64
	for i, l := range all {
		n := 1 + int(r.next()%400)
		t := int64(1_500_000_000_000) + int64(r.next()%30_000)
		var chks []chunks.Meta
		var c *chunkenc.XORChunk
		var app chunkenc.Appender
		for k := 0; k < n; k++ {
			if k%120 == 0 {
				c = chunkenc.NewXORChunk()
				app, err = c.Appender()
				check(err)
				chks = append(chks, chunks.Meta{Chunk: c, MinTime: t})
			}
			var v float64
			switch x := r.next(); x % 7 {
			case 0:
				v = math.Float64frombits(0x7ff0000000000002) // stale marker
			case 1:
				v = float64(k)
			case 2:
				v = math.Copysign(0, -1)
			default:
				v = float64(int64(x%1_000_000)) / 1000
			}
			app.Append(t, v)
			chks[len(chks)-1].MaxTime = t
			if t < minT {
				minT = t
			}
			if t > maxT {
				maxT = t
			}
			t += 15_000 + int64(r.next()%2000) - 1000
		}
		check(chunkw.WriteChunks(chks...))
		check(indexw.AddSeries(uint64(i), l, chks...))
		numSamples += uint64(n)
		numChunks += uint64(len(chks))
		postings.Add(uint64(i), l)
	}
	for name, vs := range values {
		s := make([]string, 0, len(vs))
		for v := range vs {
			s = append(s, v)
		}
		check(indexw.WriteLabelIndex([]string{name}, s))
	}
	for _, l := range postings.SortedKeys() {
		check(indexw.WritePostings(l.Name, l.Value, postings.Get(l.Name, l.Value)))
	}
	check(chunkw.Close())
	check(indexw.Close())

	meta := fmt.Sprintf(`{
	"version": 1,
	"ulid": "%s",
	"minTime": %d,
	"maxTime": %d,
	"stats": {"numSamples": %d, "numSeries": %d, "numChunks": %d},
	"compaction": {"level": 1, "sources": ["%s"]}
}
`, ulid, minT, maxT+1, numSamples, len(all), numChunks, ulid)
	check(os.WriteFile(filepath.Join(block, "meta.json"), []byte(meta), 0o644))

	// Read it back with the same version's readers.
	ir, err := index.NewFileReader(filepath.Join(block, "index"))
	check(err)
	cr, err := chunks.NewDirReader(filepath.Join(block, "chunks"), nil)
	check(err)
	var read []series
	for _, name := range []string{"go_gc_duration_seconds", "http_requests_total", "node_cpu_seconds_total", "up"} {
		p, err := ir.Postings("__name__", name)
		check(err)
		for p.Next() {
			var lset labels.Labels
			var metas []chunks.Meta
			check(ir.Series(p.At(), &lset, &metas))
			s := series{Labels: lset.Map()}
			for _, m := range metas {
				c, err := cr.Chunk(m.Ref)
				check(err)
				it := c.Iterator()
				for it.Next() {
					t, v := it.At()
					s.Samples = append(s.Samples, sample{T: t, V: fmt.Sprintf("%016x", math.Float64bits(v))})
				}
				check(it.Err())
			}
			read = append(read, s)
		}
		check(p.Err())
	}
	sort.Slice(read, func(a, b int) bool {
		return labels.Compare(labels.FromMap(read[a].Labels), labels.FromMap(read[b].Labels)) < 0
	})
	out, err := json.MarshalIndent(map[string]interface{}{
		"block": ulid, "index_version": 1, "series": len(read), "samples": numSamples, "chunks": numChunks,
		"data": read,
	}, "", " ")
	check(err)
	check(os.WriteFile(filepath.Join(dir, "EXPECTED.json"), out, 0o644))
}
