package router

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
)

// TestWarningsOnCase: what the intake could not read cleanly reaches the
// case (the first complaint's) and its contacts (each their own), and
// goes with a contact's text when the case drops that to keep its bounds.
func TestWarningsOnCase(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 13, 0, 0, time.UTC)
	withWarnings := func(ws ...string) map[string]string {
		env := ingest.Envelope{}
		ingest.SetWarnings(&env, ws)
		return env.Extra
	}
	first := []string{"邮件头：第 10 行不是合法的字段，已跳过：X-Script/function/\t !\"#$%: TEST", "正文：base64 编码有误，已尽量解码"}
	e := miniEngine(t)
	c := e.Open(consented(t, "email:first", withWarnings(first...), t0), t0)
	if !slices.Equal(c.Warnings, first) {
		t.Fatalf("case warnings %q, want %q", c.Warnings, first)
	}
	if clean := e.Open(consented(t, "email:clean", nil, t0), t0); clean.Warnings != nil {
		t.Errorf("a clean complaint got warnings %q", clean.Warnings)
	}

	later := t0.Add(48 * time.Hour)
	c, _ = AttachRepeat(c, consented(t, "email:later", withWarnings("正文：字符集 \"utf-8\" 与内容不符或无法识别，已按推测解码"), later), "又来投诉")
	if !slices.Equal(c.Warnings, first) || len(c.Contacts) != 1 || len(c.Contacts[0].Warnings) != 1 {
		t.Fatalf("case warnings %q, contacts %+v", c.Warnings, c.Contacts)
	}

	// Past MaxContactTexts the oldest contact loses its text and warnings.
	for i := range MaxContactTexts {
		at := later.Add(time.Duration(i+1) * time.Hour)
		c, _ = AttachRepeat(c, consented(t, "email:more"+strings.Repeat("x", i), nil, at), "又来投诉")
	}
	if x := c.Contacts[0]; x.Text != "" || x.Warnings != nil {
		t.Errorf("oldest contact kept text %q and warnings %q", x.Text, x.Warnings)
	}
}
