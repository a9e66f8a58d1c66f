package ingest

import (
	"strings"
	"testing"
)

// TestWarningsBounded: warnings are kept one a line, valid UTF-8, at most
// MaxWarnings of at most MaxWarningBytes (cut with …); empty ones go.
func TestWarningsBounded(t *testing.T) {
	long := strings.Repeat("邮件头：第 1 行不是合法的字段", 40)
	var many []string
	for range MaxWarnings + 5 {
		many = append(many, long)
	}
	env := Envelope{}
	SetWarnings(&env, append([]string{"", "含\n换行\xff"}, many...))
	got := Warnings(env.Extra)
	if len(got) != MaxWarnings || got[0] != "含 换行\uFFFD" {
		t.Fatalf("%d warnings, first %q", len(got), got[0])
	}
	for _, w := range got[1:] {
		if len(w) > MaxWarningBytes || !strings.HasSuffix(w, "…") {
			t.Fatalf("warning of %d bytes: %q", len(w), w)
		}
	}
}
