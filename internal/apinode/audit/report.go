package audit

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteText writes res for people: the range, what was read, the figures
// and one line per drift.
func WriteText(w io.Writer, res Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "audit of %s windows from %s to %s (end + grace)\n", strings.Join(res.Windows, ","),
		res.From.Format(time.RFC3339Nano), res.To.Format(time.RFC3339Nano))
	in := res.Input
	fmt.Fprintf(&b, "read: %d ingestion records, %d likes counted, %d invalid, %d future, %d duplicates, %d late, %d finals (%d malformed)\n",
		in.IngestionRecords, in.Likes, in.Invalid, in.Future, in.Duplicates, in.Late, in.Finals, in.MalformedFinals)
	if res.WorkersBehind > 0 {
		fmt.Fprintf(&b, "warning: the workers were %d records behind; drift may be lag\n", res.WorkersBehind)
	}
	fmt.Fprintf(&b, "windows checked: %d, matching: %d, drifting: %d\n", res.Checked, res.Matching, res.Drifting)
	for _, d := range res.Drifts {
		fmt.Fprintf(&b, "drift: video %s, %s window %s to %s: expected %d, counted %s (%s)\n", d.Video, d.Window,
			d.WindowStart.Format(time.RFC3339Nano), d.WindowEnd.Format(time.RFC3339Nano), d.Expected, counted(d.Counted), d.Kind)
	}
	if n := res.Drifting - len(res.Drifts); n > 0 {
		fmt.Fprintf(&b, "... and %d more drifting windows\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func counted(finals []uint64) string {
	if len(finals) == 0 {
		return "no final"
	}
	s := make([]string, len(finals))
	for i, c := range finals {
		s[i] = strconv.FormatUint(c, 10)
	}
	return strings.Join(s, ",")
}
