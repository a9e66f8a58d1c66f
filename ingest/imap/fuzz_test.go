package imap

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
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
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := ParseMessage(raw, ParseOptions{OurAddresses: testOurs})
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
		env, err := BuildEnvelope(&p, meta, raw, atts, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("BuildEnvelope error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if errs := ingest.CheckFields(&env); len(errs) > 0 {
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
