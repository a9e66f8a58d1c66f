package imap

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

// FuzzParseMessage feeds arbitrary bytes to the MIME-to-envelope path: it
// must never panic, must fail only with ErrUnparseable or ErrInvalid, and
// whatever it accepts must be a valid envelope of valid UTF-8 with bounded
// warnings; a malformed header line put before a readable message costs
// nothing but a warning. The seeds are the fixtures, the real-world mail
// in testdata and testdata/fuzz/FuzzParseMessage, where a crasher the
// fuzzer finds lands and is kept as a regression test.
//
//	go test ./ingest/imap -run '^$' -fuzz '^FuzzParseMessage$' -fuzztime 30s
func FuzzParseMessage(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add(fx.raw)
	}
	for _, raw := range realMailFiles(f) {
		f.Add(raw)
	}
	f.Add(attachmentMail("a@example.com", "a.zip", "application/zip", zipBytes))
	f.Add(msg([]string{"From: '张三' via 投诉 <support@tousu.example.com>", "Reply-To: zhangsan@example.com",
		"Precedence: list", "List-Id: <complaints.tousu.example.com>", "Message-ID: <l@example.com>", "Subject: 断网"}, "断网三天了"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The start of an oversized message: only its Message-ID is read.
		if id := headerMessageID(raw[:min(len(raw), maxSpoolHead)]); !utf8.ValidString(id) {
			t.Fatalf("headerMessageID is not UTF-8: %q", id)
		}
		// accept_list_mail changes only the verdict on list mail.
		listed, errListed := ParseMessage(raw, ParseOptions{OurAddresses: testOurs, AcceptListMail: true})
		p, err := ParseMessage(raw, ParseOptions{OurAddresses: testOurs})
		if (err == nil) != (errListed == nil) {
			t.Fatalf("accept_list_mail changed the parse: %v vs %v", errListed, err)
		}
		if err == nil && p.Auto == "" && listed.Auto != "" {
			t.Fatalf("accept_list_mail made a person's mail automatic: %q", listed.Auto)
		}
		if err == nil && p.Auto != "" && listed.Auto == "" && !strings.Contains(p.Auto, "list") && !strings.Contains(p.Auto, "our own") {
			t.Fatalf("accept_list_mail accepted mail that is automatic for another reason: %q", p.Auto)
		}
		if err != nil {
			if !errors.Is(err, ErrUnparseable) {
				t.Fatalf("ParseMessage error does not wrap ErrUnparseable: %v", err)
			}
			return
		}
		checkUTF8(t, p)
		if len(p.Warnings) > ingest.MaxWarnings {
			t.Fatalf("%d warnings", len(p.Warnings))
		}
		for _, w := range p.Warnings {
			if !utf8.ValidString(w) {
				t.Fatalf("warning is not UTF-8: %q", w)
			}
		}
		checkBadLineCostsNothing(t, raw, p)
		meta := Meta{Mailbox: "fuzz", UIDValidity: 1, UID: 1}
		var atts []ingest.Attachment
		for _, a := range p.Attachments {
			atts = append(atts, recordOnly(a, a.Name+"x"))
		}
		env, err := BuildEnvelope(ingesttest.References(), &p, meta, raw, atts, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("BuildEnvelope error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if errs := env.Validate(); len(errs) > 0 {
			t.Fatalf("accepted an invalid envelope: %v", errs)
		}
		for k, v := range env.Extra {
			if !utf8.ValidString(v) {
				t.Fatalf("Extra[%s] is not UTF-8: %q", k, v)
			}
		}
		if _, err := json.Marshal(env); err != nil {
			t.Fatalf("envelope does not marshal: %v", err)
		}
	})
}

// checkBadLineCostsNothing parses raw again with a malformed header line
// (a name with a space and a tab) before it: the message must read the
// same, with a warning for the skipped line.
func checkBadLineCostsNothing(t *testing.T, raw []byte, p Parsed) {
	t.Helper()
	if bytes.HasPrefix(raw, []byte("From ")) || len(raw) == 0 || raw[0] == ' ' || raw[0] == '\t' {
		return // an mbox separator or a continuation must stay first
	}
	bad, err := ParseMessage(append([]byte("X-Script/function/\t !\"#$%: TEST\r\n"), raw...), ParseOptions{OurAddresses: testOurs})
	if err != nil {
		t.Fatalf("a bad header line cost the message: %v", err)
	}
	if bad.Subject != p.Subject || bad.From != p.From || bad.Text != p.Text || len(bad.Attachments) != len(p.Attachments) {
		t.Fatalf("a bad header line changed the message: %q from %v, %q; was %q from %v, %q", bad.Subject, bad.From, bad.Text, p.Subject, p.From, p.Text)
	}
	if !slices.ContainsFunc(bad.Warnings, func(w string) bool { return strings.Contains(w, "第 1 行不是合法的字段") }) {
		t.Fatalf("no warning for the bad line: %q", bad.Warnings)
	}
}

// FuzzReadHeader: the lenient header reader never panics and never fails;
// the body it returns is the end of its input; every field it hands on
// has a valid name; its warnings are few and valid UTF-8.
//
//	go test ./ingest/imap -run '^$' -fuzz '^FuzzReadHeader$' -fuzztime 30s
func FuzzReadHeader(f *testing.F) {
	for _, raw := range realMailFiles(f) {
		f.Add(raw)
	}
	f.Add([]byte("\tcontinued\r\nA b: c\r\nFrom: a@example.com\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, body, warnings := readHeader(data, "")
		if !bytes.HasSuffix(data, body) {
			t.Fatalf("body %q is not the end of the input", body)
		}
		for fields := h.Fields(); fields.Next(); {
			if _, ok := fieldName([]byte(fields.Key() + ":")); !ok {
				t.Fatalf("invalid field name handed on: %q", fields.Key())
			}
		}
		if len(warnings) > maxSkipWarnings+4 {
			t.Fatalf("%d warnings", len(warnings))
		}
		for _, w := range warnings {
			if !utf8.ValidString(w) {
				t.Fatalf("warning is not UTF-8: %q", w)
			}
		}
	})
}

// FuzzSplitMultipart: the parts are pieces of the body, in order and
// without overlap, at most maxParts; a guessed boundary is one that splits.
//
//	go test ./ingest/imap -run '^$' -fuzz '^FuzzSplitMultipart$' -fuzztime 30s
func FuzzSplitMultipart(f *testing.F) {
	f.Add([]byte("pre\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n"), "b")
	f.Add([]byte("--x\n\ncut short"), "x")
	f.Add([]byte("------=_Part_9\n\na\n------=_Part_9--\n"), "----=_Part_0")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		parts, closed, found := splitMultipart(body, boundary)
		if len(parts) > maxParts || (closed || len(parts) > 0) && !found {
			t.Fatalf("%d parts, closed %v, found %v", len(parts), closed, found)
		}
		rest := body
		for _, p := range parts {
			i := bytes.Index(rest, p)
			if i < 0 {
				t.Fatalf("part %q is not in the rest of the body", p)
			}
			rest = rest[i+len(p):]
		}
		if g := guessBoundary(body); g != "" {
			if _, _, found := splitMultipart(body, g); !found {
				t.Fatalf("guessed boundary %q does not split", g)
			}
		}
	})
}
