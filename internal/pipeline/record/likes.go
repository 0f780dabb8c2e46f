package record

import (
	"fmt"
	"strconv"
)

// LikesHeader makes a record of the partitioned topic stand for several likes
// of one video. The re-keying stage combines the likes of one video that fall
// into the same windows of every size and are read in the same transaction
// into one record (key and value the video id, as for one like, timestamp the
// latest of theirs) with this header; its value is the number of likes in
// decimal. A record without it is one like.
const LikesHeader = "counter.likes"

// MaxLikes bounds the value of a LikesHeader.
const MaxLikes = 1 << 40

// AppendLikes appends the header value for n likes to dst.
func AppendLikes(dst []byte, n uint64) []byte { return strconv.AppendUint(dst, n, 10) }

// ParseLikes decodes a LikesHeader value: a decimal number from 1 to
// MaxLikes, without sign or leading zeros.
func ParseLikes(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 13 || b[0] == '0' {
		return 0, fmt.Errorf("bad like count %q", b)
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad like count %q", b)
		}
		n = n*10 + uint64(c-'0')
	}
	if n > MaxLikes {
		return 0, fmt.Errorf("like count %q above %d", b, uint64(MaxLikes))
	}
	return n, nil
}
