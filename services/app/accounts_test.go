package app

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
)

// lockedBuffer is what a process prints, written from its runners.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBootstrapAdmin checks the first start of a console: it creates the
// admin with a one-time password in DATA/admin-password (mode 0600) that
// verifies, prints the file and the admin API, and a second start on the
// same data keeps both.
func TestBootstrapAdmin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, accounts.PasswordFile)
	start := func() (*Process, *lockedBuffer, func()) {
		cfg, err := Load("", []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken}, func(c *Config) { c.DataDir, c.HTTP.Listen = dir, "127.0.0.1:0" })
		if err != nil {
			t.Fatal(err)
		}
		targets, _ := ParseTargets("all", true)
		out := &lockedBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		p, err := Start(ctx, cfg, targets, zap.NewNop(), out)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		polltest.Until(t, "the accounts are read", func() bool { return p.accounts.Ready(ctx) == nil })
		return p, out, func() { cancel(); <-done }
	}
	p, out, stop := start()
	polltest.Until(t, "the admin's password is written", func() bool { return strings.Contains(out.String(), path) })
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v; want mode 0600", info, err)
	}
	b, _ := os.ReadFile(path)
	password := strings.TrimSpace(string(b))
	admin, ok := p.accounts.Get(accounts.AdminName)
	if valid, _ := accounts.VerifyPassword(admin.PasswordHash, password); !ok || !valid || admin.Role != accounts.RoleAdmin || !admin.MustChangePassword {
		t.Fatalf("admin %+v: want a password that verifies and must be changed", admin)
	}
	if want := "http://" + p.HTTPAddr() + httpapi.PathAdminUsers; !strings.Contains(out.String(), want) {
		t.Errorf("start printed %q, want the admin API %s in it", out, want)
	}
	stop()
	p, out, stop = start()
	defer stop()
	polltest.Until(t, "the second start serves", func() bool {
		resp, err := http.Get("http://" + p.HTTPAddr() + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	again, _ := os.ReadFile(path)
	if !bytes.Equal(again, b) || strings.Contains(out.String(), accounts.PasswordFile) || len(p.accounts.List()) != 1 {
		t.Errorf("second start: printed %q, password file %q (was %q), accounts %v; want all kept", out, again, b, p.accounts.List())
	}
}
