package imap

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/tousu/tousu/ingest"
)

// autoReason tells automatic mail from mail a person wrote. It returns why
// a message is automatic, or "" for a person's mail. The signals are the
// standard ones (RFC 3834 Auto-Submitted, Precedence, the vendor headers of
// auto-responders, delivery and read reports, the null return path of
// bounces) plus mail from our own addresses and the subject prefixes of
// common out-of-office replies.
//
// With opts.AcceptListMail, "Precedence: list" is not a signal, and mail a
// list delivered (List-Id or Precedence: list) whose From is one of our
// addresses but whose Reply-To is not is judged by its Reply-To: a Google
// Group that rewrites From to the group's own address (for DMARC) names
// the customer in Reply-To.
func autoReason(h textproto.Header, from, replyTo Address, subject string, opts ParseOptions) string {
	if v := lowerTrim(h.Get("Auto-Submitted")); v != "" && v != "no" {
		return "Auto-Submitted: " + printable(v, 40)
	}
	precedence := lowerTrim(h.Get("Precedence"))
	switch precedence {
	case "list":
		if !opts.AcceptListMail {
			return "Precedence: list"
		}
	case "bulk", "junk", "auto_reply":
		return "Precedence: " + precedence
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Auto-Reply"} {
		if v := lowerTrim(h.Get(k)); v != "" && v != "no" && v != "false" {
			return k
		}
	}
	if v := lowerTrim(h.Get("X-Auto-Response-Suppress")); v != "" && v != "none" {
		return "X-Auto-Response-Suppress: " + printable(v, 40)
	}
	if t, params := contentType(h); t == "multipart/report" {
		return "multipart/report (" + printable(params["report-type"], 40) + ")"
	}
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp == "<>" {
		return "null Return-Path (bounce)"
	}
	if local, _, ok := strings.Cut(strings.ToLower(from.Email), "@"); ok && (local == "mailer-daemon" || local == "postmaster") {
		return "from " + local
	}
	if ingest.IsOurAddress(from.Email, opts.OurAddresses) {
		listed := h.Has("List-Id") || precedence == "list"
		rewritten := opts.AcceptListMail && listed && replyTo.Email != "" && !ingest.IsOurAddress(replyTo.Email, opts.OurAddresses)
		if !rewritten {
			return "from our own address " + from.Email
		}
	}
	if autoSubject.MatchString(subject) {
		return "auto-reply subject"
	}
	return ""
}

// autoSubject matches the subject prefixes that out-of-office replies of
// common mail systems use when they set no header.
var autoSubject = regexp.MustCompile(`(?i)^\s*(自动回复|自動回覆|自动答复|automatic reply|auto-reply|autoreply|auto reply|out of office|undeliverable|delivery status notification|退信)\s*[:：]`)

func lowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// referencePattern matches a tousu reference number (ingest.References):
// "TS" and ten characters of Crockford base32 (no I, L, O, U), not glued to
// other letters or digits.
var referencePattern = regexp.MustCompile(`(?i)(?:^|[^0-9A-Za-z])(TS[0-9A-HJKMNP-TV-Z]{10})(?:$|[^0-9A-Za-z])`)

// findReference returns the first reference number in s, upper-cased.
func findReference(s string) string {
	m := referencePattern.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return strings.ToUpper(m[1])
}
