package serverkey

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tousu/tousu/internal/secret"
)

func TestLoadGeneratesOnceAndKeeps(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := Load(Config{}, dir, true)
	if err != nil || !created {
		t.Fatalf("first load: created %v, err %v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := Load(Config{}, dir, true)
	if err != nil || created {
		t.Fatalf("second load: created %v, err %v", created, err)
	}
	if !bytes.Equal(k1.Derive("reference"), k2.Derive("reference")) {
		t.Error("a restarted process derives another key")
	}
}

func TestLoadSources(t *testing.T) {
	value := strings.Repeat("s", MinSecretBytes)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inline, _, err := Load(Config{Secret: secret.Inline(value)}, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, err := Load(Config{SecretFile: file}, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inline.Derive("x"), fromFile.Derive("x")) {
		t.Error("the same secret inline and in a file derive different keys")
	}
	if _, _, err := Load(Config{}, t.TempDir(), false); err == nil || !strings.Contains(err.Error(), EnvSecret) {
		t.Errorf("no secret, no generating: err %v, want one naming %s", err, EnvSecret)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("short"), 0o600)
	if _, _, err := Load(Config{SecretFile: short}, t.TempDir(), false); err == nil {
		t.Error("a short secret file was accepted")
	}
}

func TestDeriveSeparatesPurposes(t *testing.T) {
	k := New([]byte(strings.Repeat("k", MinSecretBytes)))
	if bytes.Equal(k.Derive("reference"), k.Derive("customer")) {
		t.Error("two purposes share a key")
	}
	other := New([]byte(strings.Repeat("o", MinSecretBytes)))
	if bytes.Equal(k.Derive("reference"), other.Derive("reference")) {
		t.Error("two secrets derive the same key")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty", Config{}, ""},
		{"inline", Config{Secret: secret.Inline(strings.Repeat("a", MinSecretBytes))}, ""},
		{"short", Config{Secret: secret.Inline("abc")}, "secret: must have at least 32 bytes"},
		{"both", Config{Secret: secret.Inline(strings.Repeat("a", MinSecretBytes)), SecretFile: "/x"}, "secret: set one of"},
		{"missing file", Config{SecretFile: "/no/such/secret"}, "secret_file: open /no/such/secret"},
		{"unset variable", Config{Secret: secret.Secret{Env: EnvSecret}}, "secret: the environment variable TOUSU_SECRET is not set"},
	} {
		cfg := tc.cfg
		cfg.Provision()
		err := errors.Join(cfg.ResolveSecrets("", secret.LookupIn(nil)), cfg.Validate())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: err %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}
