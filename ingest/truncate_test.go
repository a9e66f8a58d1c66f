package ingest_test

import (
	"testing"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
)

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"宽带断网", 7, "宽带"},
		{"宽带断网", 6, "宽带"},
		{"宽带断网", 2, ""},
		{"宽", 0, ""},
		{"宽", -1, ""},
	}
	for _, tt := range tests {
		got := ingest.TruncateUTF8(tt.s, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
