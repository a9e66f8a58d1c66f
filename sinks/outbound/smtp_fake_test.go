package outbound

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeSMTP is a scripted SMTP server on loopback: it accepts every command
// with 250 unless its script says otherwise, and keeps the mails it took.
type fakeSMTP struct {
	addr string
	// rcpt answers RCPT TO per address; missing: 250.
	rcpt map[string]string
	// data answers the end of DATA; empty: 250.
	data string
	// user and pass, when set, are required with AUTH PLAIN.
	user, pass string
	// mute accepts connections and never greets.
	mute bool
	// tls, when set, is offered with STARTTLS (or, with implicit, from the
	// first byte).
	tls      *tls.Config
	implicit bool

	mu    sync.Mutex
	mails []string
	conns int
}

// start listens on a loopback port until the test ends.
func (f *fakeSMTP) start(tb testing.TB) *fakeSMTP {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if f.implicit {
		l = tls.NewListener(l, f.tls)
	}
	f.addr = l.Addr().String()
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) port(tb testing.TB) int {
	tb.Helper()
	_, p, _ := net.SplitHostPort(f.addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func (f *fakeSMTP) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.mails...)
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	if f.mute {
		io.Copy(io.Discard, c) // until the client gives up
		return
	}
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
	say("220 mx.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			ext := []string{"250-mx.test", "250-8BITMIME", "250-ENHANCEDSTATUSCODES"}
			if f.tls != nil && !f.implicit {
				if _, ok := c.(*tls.Conn); !ok {
					ext = append(ext, "250-STARTTLS")
				}
			}
			if f.user != "" {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 SIZE 10240000")
			say(strings.Join(ext, "\r\n"))
		case "STARTTLS":
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, f.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
		case "AUTH":
			fields := strings.Fields(line)
			want := base64.StdEncoding.EncodeToString([]byte("\x00" + f.user + "\x00" + f.pass))
			if len(fields) == 3 && fields[2] == want {
				say("235 2.7.0 Authentication successful")
			} else {
				say("535 5.7.8 Error: authentication failed")
			}
		case "MAIL":
			say("250 2.1.0 Ok")
		case "RCPT":
			addr := strings.Trim(strings.TrimPrefix(strings.SplitN(line, ":", 2)[1], " "), "<>")
			addr, _, _ = strings.Cut(addr, ">")
			if reply, ok := f.rcpt[addr]; ok {
				say(reply)
			} else {
				say("250 2.1.5 Ok")
			}
		case "DATA":
			say("354 End data with <CR><LF>.<CR><LF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			if f.data != "" {
				say(f.data)
				continue
			}
			f.mu.Lock()
			f.mails = append(f.mails, b.String())
			f.mu.Unlock()
			say("250 2.0.0 Ok: queued as 4F1A2B")
		case "QUIT":
			say("221 2.0.0 Bye")
			return
		default: // NOOP, RSET
			say("250 2.0.0 Ok")
		}
	}
}
