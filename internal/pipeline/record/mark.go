package record

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/counter-dev/counter/internal/pipeline/watermark"
)

// MarkHeader is the header that makes a record of the partitioned topic a
// watermark mark rather than a like. Its value is "<source>/<sources>/<wm>":
// the ingestion partition that sends it, how many ingestion partitions there
// are, and the watermark in Unix ms. The mark promises that the source will
// send no more likes with a timestamp below wm (except late ones).
const MarkHeader = "counter.watermark"

// AppendMark appends the header value of m to dst.
func AppendMark(dst []byte, m watermark.Mark) []byte {
	dst = strconv.AppendInt(dst, int64(m.Source), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(m.Sources), 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, m.Watermark, 10)
}

// ParseMark decodes a mark header value.
func ParseMark(b []byte) (watermark.Mark, error) {
	parts := strings.Split(string(b), "/")
	if len(parts) != 3 {
		return watermark.Mark{}, fmt.Errorf("bad watermark mark %q", b)
	}
	src, err1 := strconv.ParseInt(parts[0], 10, 32)
	n, err2 := strconv.ParseInt(parts[1], 10, 32)
	wm, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || src < 0 || n < 1 || src >= n {
		return watermark.Mark{}, fmt.Errorf("bad watermark mark %q", b)
	}
	return watermark.Mark{Source: int32(src), Sources: int32(n), Watermark: wm}, nil
}
