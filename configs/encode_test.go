package configs

import (
	"testing"
	"time"
)

// redacted marshals itself without its value, as secret.Secret does.
type redacted string

func (redacted) MarshalYAML() (any, error) { return "[redacted]", nil }

func TestEncode(t *testing.T) {
	type inner struct {
		Every time.Duration `yaml:"every"`
	}
	type section struct {
		Name     string            `yaml:"name"`
		Skip     string            `yaml:"-"`
		Empty    string            `yaml:"empty,omitempty"`
		Password redacted          `yaml:"password"`
		Inner    inner             `yaml:",inline"`
		Labels   map[string]string `yaml:"labels"`
		List     []int             `yaml:"list"`
		Ptr      *int              `yaml:"ptr"`
	}
	got, err := Encode(section{Name: "投诉", Skip: "x", Password: "hunter2hunter2", Inner: inner{90 * time.Second},
		Labels: map[string]string{"b": "2", "a": "1"}, List: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := "name: 投诉\npassword: '[redacted]'\nevery: 1m30s\nlabels:\n  a: \"1\"\n  b: \"2\"\nlist:\n  - 1\n  - 2\nptr: null\n"
	if string(got) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	// What Encode writes, DecodeStrict reads back.
	var back struct {
		Name  string            `yaml:"name"`
		Pass  string            `yaml:"password"`
		Every string            `yaml:"every"`
		Lab   map[string]string `yaml:"labels"`
		List  []int             `yaml:"list"`
		Ptr   *int              `yaml:"ptr"`
	}
	if err := DecodeStrict(got, &back); err != nil || back.Every != "1m30s" || back.Pass != "[redacted]" {
		t.Errorf("decoded back: %+v, %v", back, err)
	}
}
