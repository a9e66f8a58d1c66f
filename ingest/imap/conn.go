package imap

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/tousu/tousu/internal/tlsfiles"
)

// Timeouts of a connection attempt.
const (
	dialTimeout         = 30 * time.Second
	tokenCommandTimeout = 30 * time.Second
)

// dial connects and logs in to the mailbox's server. The returned client
// is authenticated. newMail is signalled (without blocking) whenever the
// server announces a new message count, which ends an IDLE wait.
func dial(ctx context.Context, m MailboxConfig, newMail chan<- struct{}) (*imapclient.Client, error) {
	tlsConfig, err := tlsConfigFor(m)
	if err != nil {
		return nil, err
	}
	opts := &imapclient.Options{
		TLSConfig: tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	addr := net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	var c *imapclient.Client
	switch m.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		c = imapclient.New(tc, opts)
	case TLSStartTLS:
		// Bound the STARTTLS exchange; the client clears deadlines later.
		conn.SetDeadline(time.Now().Add(dialTimeout))
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return nil, fmt.Errorf("STARTTLS with %s: %w", addr, err)
		}
		conn.SetDeadline(time.Time{})
	default:
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	if err := login(ctx, c, m.Auth); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// tlsConfigFor builds the TLS configuration: the server name from Host and,
// with CACert, that file's certificates as the only trusted roots.
func tlsConfigFor(m MailboxConfig) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: m.Host, MinVersion: tls.VersionTLS12}
	if m.CACert != "" {
		pool, err := tlsfiles.CAPool(m.CACert)
		if err != nil {
			return nil, fmt.Errorf("ca_cert: %w", err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// login authenticates with the configured mechanism. Errors never contain
// the password or token.
func login(ctx context.Context, c *imapclient.Client, a AuthConfig) error {
	switch a.Mechanism {
	case AuthXOAuth2:
		token, err := oauthToken(ctx, a)
		if err != nil {
			return err
		}
		if !c.Caps().Has(imap.Cap("AUTH=XOAUTH2")) {
			return errors.New("login: the server does not offer AUTH=XOAUTH2")
		}
		if err := c.Authenticate(&xoauth2Client{user: a.Username, token: token}); err != nil {
			return fmt.Errorf("login as %s (XOAUTH2): %w", a.Username, err)
		}
		return nil
	case AuthPlain:
		pw, err := password(a)
		if err != nil {
			return err
		}
		if err := c.Authenticate(sasl.NewPlainClient("", a.Username, pw)); err != nil {
			return fmt.Errorf("login as %s (PLAIN): %w", a.Username, err)
		}
		return nil
	default:
		pw, err := password(a)
		if err != nil {
			return err
		}
		if err := c.Login(a.Username, pw).Wait(); err != nil {
			return fmt.Errorf("login as %s: %w", a.Username, err)
		}
		return nil
	}
}

// password reads the password: from Password (a file or variable anew at
// every call) or from PasswordFile.
func password(a AuthConfig) (string, error) { return passwordWith(a, nil) }

// passwordWith is password with the environment variables of lookupEnv
// (nil: the process's).
func passwordWith(a AuthConfig, lookupEnv func(string) (string, bool)) (string, error) {
	if a.PasswordFile == "" {
		pw := a.Password // a copy: a file or variable is read again next time
		if err := pw.Resolve("", lookupEnv); err != nil {
			return "", fmt.Errorf("%s: %w", pw.Key("password"), err)
		}
		return pw.Reveal(), nil
	}
	b, err := os.ReadFile(a.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("password_file: %s is empty", a.PasswordFile)
	}
	return pw, nil
}

// oauthToken reads the access token from TokenFile or runs TokenCommand.
// The command's output and error output are never included in errors:
// they may hold the token.
func oauthToken(ctx context.Context, a AuthConfig) (string, error) {
	if a.TokenFile != "" {
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("token_file: %s is empty", a.TokenFile)
		}
		return t, nil
	}
	ctx, cancel := context.WithTimeout(ctx, tokenCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", a.TokenCommand)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("token_command failed: %w", err)
	}
	t := strings.TrimSpace(out.String())
	if t == "" || strings.ContainsAny(t, "\r\n") {
		return "", errors.New("token_command: the output must be one line holding the access token")
	}
	return t, nil
}

// xoauth2Client is the SASL XOAUTH2 mechanism of Google and Microsoft:
// one initial response "user=<user>^Aauth=Bearer <token>^A^A". On failure
// the server sends a JSON challenge, answered with an empty response, and
// then fails the command.
type xoauth2Client struct {
	user, token string
}

func (x *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
