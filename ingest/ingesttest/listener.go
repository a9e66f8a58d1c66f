package ingesttest

import (
	"net"
	"sync/atomic"
	"testing"
)

// CountingListener is a loopback listener that counts the bytes read from
// its connections: what a server under test took off the wire.
type CountingListener struct {
	net.Listener
	read atomic.Int64
}

// Listen returns a CountingListener on 127.0.0.1 that closes when the test
// ends.
func Listen(tb testing.TB) *CountingListener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return &CountingListener{Listener: ln}
}

// URL is the listener's base URL, http://host:port.
func (l *CountingListener) URL() string { return "http://" + l.Addr().String() }

// Read returns the bytes read since the last Reset.
func (l *CountingListener) Read() int64 { return l.read.Load() }

// Reset starts counting from zero.
func (l *CountingListener) Reset() { l.read.Store(0) }

// Accept accepts a connection whose reads are counted.
func (l *CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Zeros is an endless reader of zero bytes: a request body that never
// ends.
type Zeros struct{}

// Read fills p with zeros.
func (Zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
