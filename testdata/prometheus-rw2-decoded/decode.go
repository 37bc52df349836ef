// Command decode reads remote write 2.0 request bodies (snappy block format) with the
// io.prometheus.write.v2 message types generated for Prometheus (prompb/io/prometheus/write/v2,
// gogo protobuf) and prints what each request holds, one canonical line per series and per
// point, so that walship's own decoding can be compared with Prometheus's line by line.
//
// Written for walship; it contains no Prometheus code. See README.md for how it is built.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/golang/snappy"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// sym resolves one symbol reference of request `file`.
func sym(file string, symbols []string, ref uint32) string {
	if int(ref) >= len(symbols) {
		fail("%s: symbol ref %d out of range (%d symbols)", file, ref, len(symbols))
	}
	return symbols[ref]
}

// pairs renders label refs as hex(name)=hex(value), comma-separated, in the order sent.
func pairs(file string, symbols []string, refs []uint32) string {
	if len(refs)%2 != 0 {
		fail("%s: odd number of label refs (%d)", file, len(refs))
	}
	parts := make([]string, 0, len(refs)/2)
	for i := 0; i < len(refs); i += 2 {
		parts = append(parts, hex.EncodeToString([]byte(sym(file, symbols, refs[i])))+"="+
			hex.EncodeToString([]byte(sym(file, symbols, refs[i+1]))))
	}
	return strings.Join(parts, ",")
}

func bits(f float64) string { return fmt.Sprintf("%016x", math.Float64bits(f)) }

func floats(fs []float64) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = bits(f)
	}
	return strings.Join(parts, ",")
}

func ints(is []int64) string {
	parts := make([]string, len(is))
	for i, v := range is {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}

func spans(ss []writev2.BucketSpan) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%d:%d", s.Offset, s.Length)
	}
	return strings.Join(parts, ",")
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for _, file := range os.Args[1:] {
		body, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			fail("%s: snappy: %v", file, err)
		}
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			fail("%s: unmarshal: %v", file, err)
		}
		if len(req.Symbols) == 0 || req.Symbols[0] != "" {
			fail("%s: symbols[0] must be the empty string", file)
		}
		for _, ts := range req.Timeseries {
			ls := pairs(file, req.Symbols, ts.LabelsRefs)
			m := ts.Metadata
			fmt.Fprintf(out, "series labels=%s type=%d help=%s unit=%s\n", ls, int32(m.Type),
				hex.EncodeToString([]byte(sym(file, req.Symbols, m.HelpRef))),
				hex.EncodeToString([]byte(sym(file, req.Symbols, m.UnitRef))))
			for _, s := range ts.Samples {
				fmt.Fprintf(out, "sample labels=%s t=%d st=%d v=%s\n", ls, s.Timestamp, s.StartTimestamp, bits(s.Value))
			}
			for _, h := range ts.Histograms {
				count, zero := "", ""
				switch c := h.Count.(type) {
				case *writev2.Histogram_CountInt:
					count = fmt.Sprintf("int:%d", c.CountInt)
				case *writev2.Histogram_CountFloat:
					count = "float:" + bits(c.CountFloat)
				}
				switch z := h.ZeroCount.(type) {
				case *writev2.Histogram_ZeroCountInt:
					zero = fmt.Sprintf("int:%d", z.ZeroCountInt)
				case *writev2.Histogram_ZeroCountFloat:
					zero = "float:" + bits(z.ZeroCountFloat)
				}
				fmt.Fprintf(out, "histogram labels=%s t=%d st=%d hint=%d schema=%d zt=%s count=%s zc=%s sum=%s ps=%s pd=%s pc=%s ns=%s nd=%s nc=%s cv=%s\n",
					ls, h.Timestamp, h.StartTimestamp, int32(h.ResetHint), h.Schema, bits(h.ZeroThreshold), count, zero,
					bits(h.Sum), spans(h.PositiveSpans), ints(h.PositiveDeltas), floats(h.PositiveCounts),
					spans(h.NegativeSpans), ints(h.NegativeDeltas), floats(h.NegativeCounts), floats(h.CustomValues))
			}
			for _, e := range ts.Exemplars {
				fmt.Fprintf(out, "exemplar labels=%s ex=%s t=%d v=%s\n", ls, pairs(file, req.Symbols, e.LabelsRefs),
					e.Timestamp, bits(e.Value))
			}
		}
	}
}
