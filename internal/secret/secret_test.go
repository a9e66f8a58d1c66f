package secret

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := LookupIn([]string{"A=1", "KEY=from-env", "EMPTY="})
	tests := []struct {
		name    string
		s       Secret
		want    string
		wantErr string
	}{
		{"inline", Inline("inline"), "inline", ""},
		{"unset", Secret{}, "", ""},
		{"relative file", Secret{File: "key"}, "from-file", ""},
		{"absolute file", Secret{File: filepath.Join(dir, "key")}, "from-file", ""},
		{"missing file", Secret{File: "nope"}, "", "nope"},
		{"empty file", Secret{File: "empty"}, "", "is empty"},
		{"env", Secret{Env: "KEY"}, "from-env", ""},
		{"unset env", Secret{Env: "NOPE"}, "", "NOPE is not set"},
		{"empty env", Secret{Env: "EMPTY"}, "", "EMPTY is not set"},
		{"two sources", Secret{File: "key", Env: "KEY"}, "", "not several"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			err := s.Resolve(dir, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve() = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || s.Reveal() != tt.want {
				t.Fatalf("Resolve() = %v, Reveal() = %q, want %q", err, s.Reveal(), tt.want)
			}
		})
	}
}

func TestResolveAtNamesTheKey(t *testing.T) {
	tests := []struct {
		s       Secret
		at      string
		wantErr string
	}{
		{Secret{File: "/no/such/file"}, "tokens[2]", "tokens[2].token_file: open /no/such/file"},
		{Secret{File: "/no/such/file"}, "", "token_file: open /no/such/file"},
		{Secret{Env: "UNSET_7f3a"}, "tokens[0]", "tokens[0].token: the environment variable UNSET_7f3a is not set"},
		{Inline("v"), "tokens[0]", ""},
	}
	for _, tt := range tests {
		err := tt.s.ResolveAt(tt.at, "token", "", LookupIn(nil))
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: ResolveAt = %v, want %q", tt.s, err, tt.wantErr)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		name      string
		s         Secret
		file, env string
		want      Secret
		wantErr   bool
	}{
		{"file", Secret{}, "f", "", Secret{File: "f"}, false},
		{"env", Secret{}, "", "E", Secret{Env: "E"}, false},
		{"same file twice", Secret{File: "f"}, "f", "", Secret{File: "f"}, false},
		{"inline and file", Inline("v"), "f", "", Secret{Value: "v", File: "f"}, true},
		{"two files", Secret{File: "g"}, "f", "", Secret{File: "f", twice: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, file, env := tt.s, tt.file, tt.env
			s.Fold(&file, &env)
			if s != tt.want || file != "" || env != "" {
				t.Errorf("Fold = %+v (left %q, %q), want %+v", s, file, env, tt.want)
			}
			if err := s.Check(); (err != nil) != tt.wantErr {
				t.Errorf("Check() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestPrintedFormsRedactTheValue(t *testing.T) {
	resolved := Secret{Env: "KEY"}
	if err := resolved.Resolve("", LookupIn([]string{"KEY=hunter2-from-env"})); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		s        Secret
		wantYAML string
	}{
		{"inline", Inline("hunter2-inline"), "'[redacted]'\n"},
		{"file", Secret{File: "/run/secrets/x"}, "file: /run/secrets/x\n"},
		{"resolved env", resolved, "env: KEY\n"},
		{"unset", Secret{}, "\"\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, err := yaml.Marshal(tt.s)
			if err != nil || string(y) != tt.wantYAML {
				t.Errorf("yaml = %q, %v, want %q", y, err, tt.wantYAML)
			}
			j, err := json.Marshal(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{string(y), string(j), tt.s.String()} {
				if strings.Contains(out, "hunter2") {
					t.Errorf("%q shows the secret", out)
				}
			}
			var back Secret
			if err := yaml.Unmarshal(y, &back); err != nil || back.File != tt.s.File || back.Env != tt.s.Env {
				t.Errorf("decoding %q = %+v, %v", y, back, err)
			}
		})
	}
}

func TestUnmarshalYAML(t *testing.T) {
	tests := []struct {
		yaml    string
		want    Secret
		wantErr string
	}{
		{`s: inline`, Inline("inline"), ""},
		{"s: {file: /x}", Secret{File: "/x"}, ""},
		{"s: {env: NAME}", Secret{Env: "NAME"}, ""},
		{"s: {value: v}", Inline("v"), ""},
		{"s: {path: /x}", Secret{}, `unknown key "path"`},
		{"s: [a]", Secret{}, "a string or a mapping"},
	}
	for _, tt := range tests {
		var out struct{ S Secret }
		err := yaml.Unmarshal([]byte(tt.yaml), &out)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil || out.S != tt.want {
			t.Errorf("%s: %+v, %v, want %+v", tt.yaml, out.S, err, tt.want)
		}
	}
}
