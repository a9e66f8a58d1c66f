// Package smtptest is a scripted SMTP server on loopback for the tests of
// the code that sends mail (sinks/outbound, sinks/alertsink): it accepts
// every command with 250 unless its script says otherwise and keeps the
// mails it took, with their envelopes. Read parses a mail such a test
// took, from this server or from a real MTA's mailbox.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-message/mail"
)

// Server is a scripted SMTP server. Set its script, then Start it; its
// methods are safe for concurrent use with the connections it serves.
type Server struct {
	// Rcpt answers RCPT TO per address; missing: 250.
	Rcpt map[string]string
	// Data answers the end of DATA; empty: 250.
	Data string
	// User and Pass, when set, are required with AUTH PLAIN.
	User, Pass string
	// Mute accepts connections and never greets.
	Mute bool
	// TLS, when set, is offered with STARTTLS (or, with Implicit, from the
	// first byte).
	TLS      *tls.Config
	Implicit bool

	addr  string
	mu    sync.Mutex
	mails []Mail
	conns int
}

// Mail is one mail the server took: its envelope and its data (dot
// unstuffed, CRLF line ends).
type Mail struct {
	From string
	To   []string
	Data string
}

// Start listens on a loopback port until the test ends and returns s.
func (s *Server) Start(tb testing.TB) *Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if s.Implicit {
		l = tls.NewListener(l, s.TLS)
	}
	s.addr = l.Addr().String()
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// Port is the port the server listens on.
func (s *Server) Port(tb testing.TB) int {
	tb.Helper()
	_, p, _ := net.SplitHostPort(s.addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// Received returns the mails the server took, in order.
func (s *Server) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Conns is the number of connections the server accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// path returns the address of a MAIL FROM or RCPT TO command.
func path(line string) string {
	_, arg, _ := strings.Cut(line, ":")
	arg = strings.TrimPrefix(strings.TrimSpace(arg), "<")
	addr, _, _ := strings.Cut(arg, ">")
	return addr
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	if s.Mute {
		io.Copy(io.Discard, c) // until the client gives up
		return
	}
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	say("220 mx.test ESMTP")
	var env Mail
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
			if s.TLS != nil && !s.Implicit {
				if _, ok := c.(*tls.Conn); !ok {
					ext = append(ext, "250-STARTTLS")
				}
			}
			if s.User != "" {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 SIZE 10240000")
			say(strings.Join(ext, "\r\n"))
		case "STARTTLS":
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, s.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
		case "AUTH":
			fields := strings.Fields(line)
			want := base64.StdEncoding.EncodeToString([]byte("\x00" + s.User + "\x00" + s.Pass))
			if len(fields) == 3 && fields[2] == want {
				say("235 2.7.0 Authentication successful")
			} else {
				say("535 5.7.8 Error: authentication failed")
			}
		case "MAIL":
			env = Mail{From: path(line)}
			say("250 2.1.0 Ok")
		case "RCPT":
			addr := path(line)
			if reply, ok := s.Rcpt[addr]; ok {
				say(reply)
				continue
			}
			env.To = append(env.To, addr)
			say("250 2.1.5 Ok")
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
			if s.Data != "" {
				say(s.Data)
				continue
			}
			env.Data = b.String()
			s.mu.Lock()
			s.mails = append(s.mails, env)
			s.mu.Unlock()
			env = Mail{}
			say("250 2.0.0 Ok: queued as 4F1A2B")
		case "RSET":
			env = Mail{}
			say("250 2.0.0 Ok")
		case "QUIT":
			say("221 2.0.0 Bye")
			return
		default: // NOOP
			say("250 2.0.0 Ok")
		}
	}
}

// Read parses a raw mail as tousu writes it, a single text/plain part in
// UTF-8, failing tb when it is not one, and returns its header and its
// decoded text with LF line ends.
func Read(tb testing.TB, raw []byte) (mail.Header, string) {
	tb.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	if ct, params, _ := r.Header.ContentType(); ct != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		tb.Errorf("Content-Type = %s %v, want text/plain; charset=UTF-8", ct, params)
	}
	p, err := r.NextPart()
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(p.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return r.Header, strings.ReplaceAll(string(body), "\r\n", "\n")
}
