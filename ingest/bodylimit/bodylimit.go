// Package bodylimit reads HTTP request bodies within a limit, without
// holding more than the limit in memory. The HTTP server streams request
// bodies (fiber's StreamRequestBody), so a handler that reads its body
// through this package stops reading at its own limit: at once when
// Content-Length announces more, else after limit bytes.
//
// A client is usually still sending when it is refused. So that it gets
// the answer rather than a reset connection, up to Linger more bytes are
// read and dropped (never kept); a body longer than that is cut off and
// the connection closed after the answer.
package bodylimit

import (
	"bytes"
	"errors"
	"io"

	"github.com/gofiber/fiber/v2"
)

// ErrTooLarge means the body is longer than the limit.
var ErrTooLarge = errors.New("request body too large")

// Linger is how much of a body over its limit is still read, and
// dropped, so that the client gets the answer.
const Linger = 1 << 20

const consumedKey = "tousu.bodylimit.consumed"

// Reader returns the request body as a reader that fails with ErrTooLarge
// once it would yield more than limit bytes. It fails at once, without
// reading anything, when Content-Length announces more than limit. Either
// way the connection closes after the answer, since the rest of the body
// is left unread.
func Reader(c *fiber.Ctx, limit int64) (io.Reader, error) {
	var r io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	} else {
		r = bytes.NewReader(c.Body()) // not streamed: already in memory
	}
	if n := int64(c.Request().Header.ContentLength()); n > limit {
		if n <= limit+Linger {
			Drain(c, r)
		} else {
			c.Context().SetConnectionClose()
		}
		return nil, ErrTooLarge
	}
	return &limited{c: c, r: r, left: limit}, nil
}

// Drain reads and drops up to Linger bytes of what is left of a request
// body r (a Reader's, or the one Reader reads), for a handler that
// answers before reading all of it. Unless that reached the end, the
// connection closes after the answer.
func Drain(c *fiber.Ctx, r io.Reader) {
	if l, ok := r.(*limited); ok {
		if l.err != nil { // at the end, or past the limit and drained, or broken
			if !Consumed(c) {
				c.Context().SetConnectionClose()
			}
			return
		}
		r = l.r
	}
	if _, err := io.CopyN(io.Discard, r, Linger+1); errors.Is(err, io.EOF) {
		c.Locals(consumedKey, true)
		return
	}
	c.Context().SetConnectionClose()
}

// Read returns the whole request body, or ErrTooLarge when it is longer
// than limit; then at most limit+Linger bytes were read.
func Read(c *fiber.Ctx, limit int64) ([]byte, error) {
	r, err := Reader(c, limit)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Consumed reports whether a reader of this package read the request body
// to its end, so that the connection can serve another request.
func Consumed(c *fiber.Ctx) bool {
	done, _ := c.Locals(consumedKey).(bool)
	return done
}

// limited is the reader Reader returns. It never reads its source again
// after the end: a chunked stream would take the next request's bytes for
// a chunk.
type limited struct {
	c    *fiber.Ctx
	r    io.Reader
	left int64
	err  error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		switch {
		case err == nil:
			Drain(l.c, l.r)
		case errors.Is(err, io.EOF):
			l.c.Locals(consumedKey, true)
		default:
			l.c.Context().SetConnectionClose()
		}
		n, err = int(l.left), ErrTooLarge
	}
	l.left -= int64(n)
	if errors.Is(err, io.EOF) {
		l.c.Locals(consumedKey, true)
	}
	if err != nil {
		l.err = err
	}
	return n, err
}
