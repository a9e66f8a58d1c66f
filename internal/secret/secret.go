// Package secret is the one way tousu's configuration names a secret (a
// token, an HMAC key, a password): inline, in a file or in an environment
// variable. A Secret is resolved once, after the configuration was
// provisioned; its printed forms never show the value.
package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redacted is what a Secret's value prints as.
const Redacted = "[redacted]"

// Secret names a secret: Value inline, or the File or the environment
// variable Env holding it. In YAML it is a plain string (the inline value)
// or a mapping with one of the keys value, file and env. Sections that
// had a secret before this type keep their sibling keys (token_file,
// secret_env…) and Fold them into it when provisioned.
//
// A Secret is a value; copies share nothing. It is not safe to Resolve
// one from several goroutines at once.
type Secret struct {
	// Value is the secret itself, inline.
	Value string `yaml:"value,omitempty"`
	// File names a file holding the secret; surrounding whitespace (the
	// trailing newline) is not part of it. A relative path is read from
	// the directory passed to Resolve (the configuration file's).
	File string `yaml:"file,omitempty"`
	// Env names an environment variable holding the secret.
	Env string `yaml:"env,omitempty"`

	resolved string // the value read from File or Env
	known    bool   // resolved holds the value
	twice    bool   // Fold found a source already named
}

// Inline returns the Secret whose value is v.
func Inline(v string) Secret { return Secret{Value: v} }

// IsSet reports whether the Secret names a source.
func (s Secret) IsSet() bool { return s.Value != "" || s.File != "" || s.Env != "" }

// Known reports whether the value is at hand: inline, or resolved.
func (s Secret) Known() bool { return s.Value != "" || s.known }

// Reveal returns the value: the inline one, or the one Resolve read. It
// is empty for a file or variable not resolved yet. Never log it.
func (s Secret) Reveal() string {
	if s.Value != "" {
		return s.Value
	}
	return s.resolved
}

// Fold moves the names of a file and of an environment variable given in
// sibling keys of the old form (token_file, secret_env…) into s and clears
// them; nil pointers are skipped. A source named both ways is reported by
// Check.
func (s *Secret) Fold(file, env *string) {
	move := func(from, to *string) {
		if from == nil || *from == "" {
			return
		}
		if *to != "" && *to != *from {
			s.twice = true
		}
		*to, *from = *from, ""
	}
	move(file, &s.File)
	move(env, &s.Env)
}

// Key returns the configuration key that names the source of s: name_file
// for a file (the sibling key of the old form), else name (errors about a
// variable name the variable). Errors about a secret are prefixed with it.
func (s Secret) Key(name string) string {
	if s.Value == "" && s.File != "" {
		return name + "_file"
	}
	return name
}

// Check reports a Secret that names more than one source. It reads
// nothing; an unset Secret is valid (the section decides whether it needs
// one).
func (s Secret) Check() error {
	n := 0
	for _, v := range []string{s.Value, s.File, s.Env} {
		if v != "" {
			n++
		}
	}
	if n > 1 || s.twice {
		return errors.New("set one of an inline value, a file and an environment variable, not several")
	}
	return nil
}

// Resolve reads the value from File (relative to dir) or from the variable
// Env (through lookupEnv; nil means os.LookupEnv), once: a resolved or
// inline Secret is left as it is. An empty file or variable is an error.
// Errors name the file or the variable, never a value.
func (s *Secret) Resolve(dir string, lookupEnv func(string) (string, bool)) error {
	if s.Known() || !s.IsSet() {
		return nil
	}
	if err := s.Check(); err != nil {
		return err
	}
	switch {
	case s.File != "":
		path := s.File
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return fmt.Errorf("%s is empty", path)
		}
		s.resolved, s.known = v, true
	default:
		if lookupEnv == nil {
			lookupEnv = os.LookupEnv
		}
		v, _ := lookupEnv(s.Env)
		if v == "" {
			return fmt.Errorf("the environment variable %s is not set", s.Env)
		}
		s.resolved, s.known = v, true
	}
	return nil
}

// ResolveAt is Resolve with its error prefixed by the key of the source s
// names, below at: "at.name_file: …" (see Key; at may be empty). Sections
// resolve their secrets with it.
func (s *Secret) ResolveAt(at, name, dir string, lookupEnv func(string) (string, bool)) error {
	if err := s.Resolve(dir, lookupEnv); err != nil {
		if at != "" {
			at += "."
		}
		return fmt.Errorf("%s%s: %w", at, s.Key(name), err)
	}
	return nil
}

// LookupIn returns a lookup over environ (KEY=VALUE strings, as os.Environ
// returns them), for Resolve.
func LookupIn(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(environ) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

// String returns Redacted for an inline or resolved value, else the source
// it names ("file /run/secrets/x", "env NAME") or "".
func (s Secret) String() string {
	switch {
	case s.Value != "":
		return Redacted
	case s.File != "":
		return "file " + s.File
	case s.Env != "":
		return "env " + s.Env
	}
	return ""
}

// printed is the form of a Secret that names a file or a variable.
type printed struct {
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	File  string `yaml:"file,omitempty" json:"file,omitempty"`
	Env   string `yaml:"env,omitempty" json:"env,omitempty"`
}

// redacted is what a Secret marshals to: Redacted for an inline value, or
// the file and variable names (with Redacted for a value beside them).
func (s Secret) redacted() any {
	if s.File == "" && s.Env == "" {
		if s.Value == "" {
			return ""
		}
		return Redacted
	}
	p := printed{File: s.File, Env: s.Env}
	if s.Value != "" {
		p.Value = Redacted
	}
	return p
}

// IsZero reports whether s names no source, so that omitempty leaves it out.
func (s Secret) IsZero() bool { return !s.IsSet() }

// MarshalYAML writes the Secret with its value redacted.
func (s Secret) MarshalYAML() (any, error) { return s.redacted(), nil }

// MarshalJSON writes the Secret with its value redacted.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// UnmarshalYAML reads a plain string as the inline value, or a mapping of
// value, file and env; any other key is an error naming it.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = Secret{}
		return n.Decode(&s.Value)
	case yaml.MappingNode:
		*s = Secret{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			var dst *string
			switch key.Value {
			case "value":
				dst = &s.Value
			case "file":
				dst = &s.File
			case "env":
				dst = &s.Env
			default:
				return fmt.Errorf("line %d: unknown key %q (a secret has value, file or env)", key.Line, key.Value)
			}
			if err := value.Decode(dst); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a secret is a string or a mapping of value, file or env", n.Line)
}
