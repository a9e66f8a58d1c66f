package imap

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

// FuzzParseMessage feeds arbitrary bytes to the MIME-to-envelope path: it
// must never panic, must fail only with ErrUnparseable or ErrInvalid, and
// whatever it accepts must be a valid envelope of valid UTF-8. The seeds
// are the fixtures; a crasher the fuzzer finds lands in
// testdata/fuzz/FuzzParseMessage and is kept there as a regression test.
//
//	go test ./ingest/imap -run '^$' -fuzz FuzzParseMessage -fuzztime 30s
func FuzzParseMessage(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add(fx.raw)
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
