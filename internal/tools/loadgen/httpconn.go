package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is a minimal HTTP/1.1 client over one keep-alive connection: it
// writes prepared requests and reads the answers (status, Content-Length or
// chunked body). It is much cheaper than net/http's client, which matters
// when the load generator shares the machine with the server it measures.
type httpConn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	r       *bufio.Reader
}

// errStatusLine is returned for an answer that is not HTTP/1.x.
var errStatusLine = errors.New("malformed HTTP status line")

// roundTrip sends req and returns the status code of the answer, whose body
// is read and discarded. It dials when not connected; after an error the
// connection is closed and the next call dials again.
func (h *httpConn) roundTrip(req []byte) (int, error) {
	if h.c == nil {
		c, err := net.DialTimeout("tcp", h.addr, h.timeout)
		if err != nil {
			return 0, fmt.Errorf("connect: %w", err)
		}
		h.c = c
		if h.r == nil {
			h.r = bufio.NewReaderSize(c, 16<<10)
		} else {
			h.r.Reset(c)
		}
	}
	code, keep, err := h.exchange(req)
	if err != nil || !keep {
		h.close()
	}
	return code, err
}

func (h *httpConn) exchange(req []byte) (code int, keep bool, err error) {
	if err := h.c.SetDeadline(time.Now().Add(h.timeout)); err != nil {
		return 0, false, err
	}
	if _, err := h.c.Write(req); err != nil {
		return 0, false, err
	}
	line, err := h.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, errStatusLine
	}
	code, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, errStatusLine
	}
	length, chunked, keep := int64(-1), false, line[7] == '1'
	for {
		line, err = h.r.ReadSlice('\n')
		if err != nil {
			return code, false, err
		}
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		if !ok {
			break // the empty line ending the header
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return code, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = keep && !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = h.discardChunks()
	case length >= 0:
		_, err = h.r.Discard(int(length))
	default:
		_, err = io.Copy(io.Discard, h.r) // body until the server closes
		keep = false
	}
	return code, keep && err == nil, err
}

// discardChunks reads a chunked body and its trailer.
func (h *httpConn) discardChunks() error {
	for {
		line, err := h.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeText, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseInt(string(bytes.TrimSpace(sizeText)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("bad chunk size %q", sizeText)
		}
		if size == 0 {
			for { // trailer fields, then an empty line
				line, err := h.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := h.r.Discard(int(size) + 2); err != nil { // data and CRLF
			return err
		}
	}
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}
