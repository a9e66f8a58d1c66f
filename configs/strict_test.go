package configs

import (
	"strings"
	"testing"
)

// TestDecodeStrictRefusesAliasBombs checks that a configuration built to
// expand exponentially through YAML aliases (a "billion laughs" document)
// is refused instead of exhausting memory.
func TestDecodeStrictRefusesAliasBombs(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	var out map[string]any
	err := DecodeStrict([]byte(b.String()), &out)
	if err == nil {
		t.Fatal("an alias bomb was decoded")
	}
	if !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("error %q does not say why", err)
	}
}

// TestDecodeStrictNamesUnknownKeys checks that an unknown key is an error
// that names its path.
func TestDecodeStrictNamesUnknownKeys(t *testing.T) {
	var out struct {
		Webhook struct {
			Sources map[string]struct {
				Secret string `yaml:"secret"`
			} `yaml:"sources"`
		} `yaml:"webhook"`
	}
	err := DecodeStrict([]byte("webhook:\n  sources:\n    acme:\n      secrt: x\n"), &out)
	if err == nil || !strings.Contains(err.Error(), "webhook.sources.acme.secrt") {
		t.Errorf("error %v, want one naming webhook.sources.acme.secrt", err)
	}
}
