// Command go-reference times, on this machine, the read + decode path of Prometheus 2.42's WAL
// reader on a WAL directory: the same libraries (github.com/golang/snappy, hash/crc32 with the
// Castagnoli table, encoding/binary) driven the same way (an io.Reader read with io.ReadFull one
// fragment at a time, fragments appended to a record buffer, snappy.Decode into a buffer reused at
// full capacity, Samples decoded with binary.Varint and appended to a reused slice, Series labels
// decoded into freshly allocated strings). It is our own re-statement of that algorithm, written
// so the wal-format benchmark can give a ratio to Go measured in the same run, on the same bytes.
//
// Usage: go-reference decode DIR RUNS — prints "samples series seconds" for the best of RUNS passes.
//
//	go-reference snappy DIR RUNS — times snappy.Decode alone over every compressed record, joined
//	from its fragments beforehand; prints "records decompressed-bytes seconds".
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/golang/snappy"
)

const (
	pageSize   = 32 * 1024
	headerSize = 7
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type refSample struct {
	ref uint64
	t   int64
	v   float64
}

type label struct{ name, value string }

type refSeries struct {
	ref    uint64
	labels []label
}

// reader yields the records of one segment, as Prometheus's wlog.Reader does.
type reader struct {
	src     io.Reader
	buf     [pageSize]byte
	rec     []byte
	packed  []byte
	total   int64
	started bool
}

func (r *reader) next() ([]byte, error) {
	hdr := r.buf[:headerSize]
	body := r.buf[headerSize:]
	r.rec = r.rec[:0]
	r.packed = r.packed[:0]
	for {
		if _, err := io.ReadFull(r.src, hdr[:1]); err != nil {
			return nil, err
		}
		r.total++
		typ := hdr[0] & 0x07
		snappyFlag := hdr[0]&0x08 != 0
		if typ == 0 {
			// Zero padding up to the end of the page.
			rest := pageSize - (r.total % pageSize)
			if rest == pageSize {
				continue
			}
			pad := r.buf[1 : 1+rest]
			if _, err := io.ReadFull(r.src, pad); err != nil {
				return nil, err
			}
			r.total += rest
			for _, b := range pad {
				if b != 0 {
					return nil, errors.New("non-zero padding")
				}
			}
			continue
		}
		if _, err := io.ReadFull(r.src, hdr[1:]); err != nil {
			return nil, err
		}
		r.total += headerSize - 1
		length := int(binary.BigEndian.Uint16(hdr[1:]))
		want := binary.BigEndian.Uint32(hdr[3:])
		if length > pageSize-headerSize {
			return nil, fmt.Errorf("fragment length %d", length)
		}
		if _, err := io.ReadFull(r.src, body[:length]); err != nil {
			return nil, err
		}
		r.total += int64(length)
		if crc32.Checksum(body[:length], castagnoli) != want {
			return nil, errors.New("checksum mismatch")
		}
		if snappyFlag {
			r.packed = append(r.packed, body[:length]...)
		} else {
			r.rec = append(r.rec, body[:length]...)
		}
		// Types: 1 full, 2 first, 3 middle, 4 last.
		if typ == 1 || typ == 4 {
			if snappyFlag && len(r.packed) > 0 {
				out, err := snappy.Decode(r.rec[:cap(r.rec)], r.packed)
				r.rec = out
				return out, err
			}
			return r.rec, nil
		}
	}
}

var errShort = errors.New("record too short")

func decodeSamples(rec []byte, out []refSample) ([]refSample, error) {
	b := rec[1:]
	if len(b) == 0 {
		return out, nil
	}
	if len(b) < 16 {
		return out, errShort
	}
	baseRef := binary.BigEndian.Uint64(b)
	baseT := int64(binary.BigEndian.Uint64(b[8:]))
	b = b[16:]
	for len(b) > 0 {
		dref, n := binary.Varint(b)
		if n <= 0 {
			return out, errShort
		}
		b = b[n:]
		dt, n := binary.Varint(b)
		if n <= 0 {
			return out, errShort
		}
		b = b[n:]
		if len(b) < 8 {
			return out, errShort
		}
		v := binary.BigEndian.Uint64(b)
		b = b[8:]
		out = append(out, refSample{ref: uint64(int64(baseRef) + dref), t: baseT + dt, v: math.Float64frombits(v)})
	}
	return out, nil
}

func uvarintBytes(b []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, b, errShort
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

func decodeSeries(rec []byte, out []refSeries) ([]refSeries, error) {
	b := rec[1:]
	for len(b) > 0 {
		if len(b) < 8 {
			return out, errShort
		}
		ref := binary.BigEndian.Uint64(b)
		b = b[8:]
		count, k := binary.Uvarint(b)
		if k <= 0 {
			return out, errShort
		}
		b = b[k:]
		labels := make([]label, count)
		for i := range labels {
			var name, value []byte
			var err error
			if name, b, err = uvarintBytes(b); err != nil {
				return out, err
			}
			if value, b, err = uvarintBytes(b); err != nil {
				return out, err
			}
			labels[i] = label{string(name), string(value)}
		}
		out = append(out, refSeries{ref, labels})
	}
	return out, nil
}

func pass(segments [][]byte) (int, int, error) {
	var samples []refSample
	var series []refSeries
	nSamples, nSeries := 0, 0
	for _, seg := range segments {
		r := &reader{src: bytes.NewReader(seg)}
		for {
			rec, err := r.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, 0, err
			}
			if len(rec) == 0 {
				continue
			}
			switch rec[0] {
			case 1:
				series, err = decodeSeries(rec, series[:0])
				nSeries += len(series)
			case 2:
				samples, err = decodeSamples(rec, samples[:0])
				nSamples += len(samples)
			}
			if err != nil {
				return 0, 0, err
			}
		}
	}
	return nSamples, nSeries, nil
}

// compressedRecords joins the fragments of every snappy-compressed record.
func compressedRecords(segments [][]byte) [][]byte {
	var out [][]byte
	var cur []byte
	for _, seg := range segments {
		for off := 0; off+headerSize <= len(seg); {
			typ := seg[off] & 0x07
			if typ == 0 {
				off += pageSize - off%pageSize
				continue
			}
			length := int(binary.BigEndian.Uint16(seg[off+1:]))
			compressed := seg[off]&0x08 != 0
			cur = append(cur, seg[off+headerSize:off+headerSize+length]...)
			off += headerSize + length
			if typ == 1 || typ == 4 {
				if compressed {
					out = append(out, cur)
				}
				cur = nil
			}
		}
	}
	return out
}

// passSnappy decompresses every record into a reused buffer; it returns the bytes produced.
func passSnappy(records [][]byte, buf []byte) (int, error) {
	total := 0
	for _, rec := range records {
		out, err := snappy.Decode(buf[:cap(buf)], rec)
		if err != nil {
			return 0, err
		}
		total += len(out)
	}
	return total, nil
}

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "decode" && os.Args[1] != "snappy") {
		fmt.Fprintln(os.Stderr, "usage: go-reference decode|snappy DIR RUNS")
		os.Exit(2)
	}
	runs, err := strconv.Atoi(os.Args[3])
	if err != nil || runs < 1 {
		fmt.Fprintln(os.Stderr, "RUNS must be a positive integer")
		os.Exit(2)
	}
	names, err := filepath.Glob(filepath.Join(os.Args[2], "[0-9]*"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sort.Strings(names)
	var segments [][]byte
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		segments = append(segments, data)
	}
	var records [][]byte
	buf := make([]byte, 0, 1<<22)
	if os.Args[1] == "snappy" {
		records = compressedRecords(segments)
	}
	best := math.MaxFloat64
	var a, b int
	for i := 0; i < runs; i++ {
		start := time.Now()
		if os.Args[1] == "snappy" {
			a = len(records)
			b, err = passSnappy(records, buf)
		} else {
			a, b, err = pass(segments)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		best = math.Min(best, time.Since(start).Seconds())
	}
	fmt.Printf("%d %d %.6f\n", a, b, best)
}
