package ingest

import "strings"

// ExtraWarnings is the Extra key of what a channel could not read cleanly
// in a submission although it kept the complaint: a mail header line it
// skipped, a charset it guessed, a broken encoding it decoded as far as it
// went. One warning a line, in Simplified Chinese, for the agent to check
// against the original (the raw bytes stay with the source). The case
// keeps them (router.Case.Warnings).
const ExtraWarnings = "decode_warnings"

// Bounds of the warnings kept on a complaint.
const (
	MaxWarnings     = 20
	MaxWarningBytes = 300
)

// SetWarnings records ws on env's Extra (nothing when ws is empty), within
// MaxWarnings of MaxWarningBytes each.
func SetWarnings(env *Envelope, ws []string) {
	ws = boundWarnings(ws)
	if len(ws) == 0 {
		return
	}
	if env.Extra == nil {
		env.Extra = map[string]string{}
	}
	env.Extra[ExtraWarnings] = strings.Join(ws, "\n")
}

// Warnings returns the warnings recorded in extra (an envelope's or a
// complaint's Extra), within the same bounds, or nil.
func Warnings(extra map[string]string) []string {
	return boundWarnings(strings.Split(extra[ExtraWarnings], "\n"))
}

// boundWarnings keeps the non-empty warnings of ws as one line of valid
// UTF-8 each, at most MaxWarnings of at most MaxWarningBytes.
func boundWarnings(ws []string) []string {
	var out []string
	for _, w := range ws {
		w = strings.TrimSpace(strings.ToValidUTF8(strings.ReplaceAll(w, "\n", " "), "\uFFFD"))
		if w == "" {
			continue
		}
		if len(out) == MaxWarnings {
			break
		}
		if len(w) > MaxWarningBytes {
			w = TruncateUTF8(w, MaxWarningBytes-len("…")) + "…"
		}
		out = append(out, w)
	}
	return out
}
