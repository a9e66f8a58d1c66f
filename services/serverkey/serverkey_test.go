package serverkey

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	secret := strings.Repeat("s", MinSecretBytes)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inline, _, err := Load(Config{Secret: secret}, t.TempDir(), false)
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
		ok   bool
	}{
		{"empty", Config{}, true},
		{"inline", Config{Secret: strings.Repeat("a", MinSecretBytes)}, true},
		{"short", Config{Secret: "abc"}, false},
		{"both", Config{Secret: strings.Repeat("a", MinSecretBytes), SecretFile: "/x"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}
