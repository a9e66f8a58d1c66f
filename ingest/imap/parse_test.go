package imap

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

var testOurs = []string{"support@tousu.example.com", "@noreply.tousu.example.com"}

func TestParseMessageFixtures(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			p, err := ParseMessage(f.raw, ParseOptions{OurAddresses: testOurs})
			if f.unparseable {
				if !errors.Is(err, ErrUnparseable) {
					t.Fatalf("err = %v, want ErrUnparseable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			checkUTF8(t, p)
			if f.subject != "" && p.Subject != f.subject {
				t.Errorf("Subject = %q, want %q", p.Subject, f.subject)
			}
			if f.fromName != "" && p.From.Name != f.fromName {
				t.Errorf("From.Name = %q, want %q", p.From.Name, f.fromName)
			}
			if f.fromEmail != "" && p.From.Email != f.fromEmail {
				t.Errorf("From.Email = %q, want %q", p.From.Email, f.fromEmail)
			}
			for _, s := range f.textHas {
				if !strings.Contains(p.Text, s) {
					t.Errorf("Text lacks %q:\n%s", s, p.Text)
				}
			}
			for _, s := range f.textHasNot {
				if strings.Contains(p.Text, s) {
					t.Errorf("Text has %q:\n%s", s, p.Text)
				}
			}
			for _, s := range f.htmlHas {
				if !strings.Contains(p.HTML, s) {
					t.Errorf("HTML lacks %q:\n%s", s, p.HTML)
				}
			}
			for _, s := range f.htmlHasNot {
				if strings.Contains(p.HTML, s) {
					t.Errorf("HTML has %q:\n%s", s, p.HTML)
				}
			}
			if f.attachments != len(p.Attachments) {
				t.Errorf("%d attachments, want %d: %+v", len(p.Attachments), f.attachments, names(p.Attachments))
			}
			if f.auto != (p.Auto != "") {
				t.Errorf("Auto = %q, want auto=%v", p.Auto, f.auto)
			}
			if f.warning != (len(p.Warnings) > 0) {
				t.Errorf("Warnings = %q, want some: %v", p.Warnings, f.warning)
			}
			if f.reference != "" && p.ReplyToReference != f.reference {
				t.Errorf("ReplyToReference = %q, want %q", p.ReplyToReference, f.reference)
			}
			if f.inReplyTo != "" && (len(p.InReplyTo) != 1 || p.InReplyTo[0] != f.inReplyTo) {
				t.Errorf("InReplyTo = %q, want %q", p.InReplyTo, f.inReplyTo)
			}

			env, err := BuildEnvelope(ingesttest.References(), &p, Meta{Mailbox: "support", UIDValidity: 7, UID: 42}, f.raw, nil, nil)
			if f.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("BuildEnvelope err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("BuildEnvelope: %v", err)
			}
			want := f.contactEmail
			if want == "" {
				want = p.From.Email
			}
			if env.Email != want {
				t.Errorf("Envelope.Email = %q, want %q", env.Email, want)
			}
		})
	}
}

func checkUTF8(t testing.TB, p Parsed) {
	t.Helper()
	for _, s := range []string{p.Subject, p.From.Name, p.From.Email, p.ReplyTo.Name, p.Text, p.HTML, p.MessageID, p.Auto} {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8: %q", s)
		}
	}
	for _, a := range p.Attachments {
		if !utf8.ValidString(a.Name) {
			t.Errorf("invalid UTF-8 name: %q", a.Name)
		}
	}
}

func names(parts []Part) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p.Name+" ("+p.ContentType+")")
	}
	return out
}

func TestParseAttachments(t *testing.T) {
	f := fixtureNamed(t, "nested multiparts with attachments")
	p, err := ParseMessage(f.raw, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, ctype string
		inline      bool
		data        []byte
	}{
		{"", "image/png", true, pngBytes},
		{"投诉书.pdf", "application/pdf", false, pdfBytes},
		{"现场照片.jpg", "image/jpeg", false, jpegBytes},
	}
	if len(p.Attachments) != len(want) {
		t.Fatalf("attachments %v", names(p.Attachments))
	}
	for i, w := range want {
		a := p.Attachments[i]
		if a.Name != w.name || a.ContentType != w.ctype || a.Inline != w.inline || string(a.Data) != string(w.data) {
			t.Errorf("attachment %d = %q %q inline=%v %d bytes, want %q %q inline=%v %d bytes",
				i, a.Name, a.ContentType, a.Inline, len(a.Data), w.name, w.ctype, w.inline, len(w.data))
		}
	}
	if p.Attachments[0].ContentID != "pic1" {
		t.Errorf("ContentID = %q", p.Attachments[0].ContentID)
	}
}

func fixtureNamed(t testing.TB, name string) fixture {
	t.Helper()
	for _, f := range fixtures(t) {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %q", name)
	return fixture{}
}

func TestBuildEnvelope(t *testing.T) {
	meta := Meta{Mailbox: "support", UIDValidity: 1700000000, UID: 9, InternalDate: time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))}
	t.Run("ids and extra", func(t *testing.T) {
		f := fixtureNamed(t, "reply with reference")
		p, _ := ParseMessage(f.raw, ParseOptions{})
		env, err := BuildEnvelope(ingesttest.References(), &p, meta, f.raw, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantID := ingest.NewID(ingest.ChannelEmail, "support", "1700000000/9")
		if env.ID != wantID || env.Reference != ingesttest.References().For(wantID) || env.SourceID != "1700000000/9" ||
			env.Source != "support" || env.Channel != ingest.ChannelEmail || env.V != ingest.SchemaVersion {
			t.Errorf("envelope identity = %+v", env)
		}
		if !env.ReceivedAt.Equal(meta.InternalDate) || env.ReceivedAt.Location() != time.UTC {
			t.Errorf("ReceivedAt = %v", env.ReceivedAt)
		}
		for k, v := range map[string]string{
			ExtraMessageID:        "reply-1@example.com",
			ExtraInReplyTo:        "ack-1@tousu.example.com",
			ExtraReferences:       "orig@example.com ack-1@tousu.example.com",
			ExtraReplyToReference: "TS7K3M9QX2AB",
			ExtraFrom:             "customer@example.com",
		} {
			if env.Extra[k] != v {
				t.Errorf("Extra[%s] = %q, want %q", k, env.Extra[k], v)
			}
		}
		if len(env.Extra[ExtraRawSHA256]) != 64 {
			t.Errorf("raw_sha256 = %q", env.Extra[ExtraRawSHA256])
		}
		again, _ := BuildEnvelope(ingesttest.References(), &p, meta, f.raw, nil, nil)
		if again.ID != env.ID || again.Description != env.Description {
			t.Error("BuildEnvelope is not deterministic")
		}
	})
	t.Run("long description cut on a rune boundary", func(t *testing.T) {
		f := fixtureNamed(t, "long body")
		p, _ := ParseMessage(f.raw, ParseOptions{})
		env, err := BuildEnvelope(ingesttest.References(), &p, meta, f.raw, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(env.Description) > ingest.MaxDescriptionBytes || len(env.Description) < ingest.MaxDescriptionBytes-3 || !utf8.ValidString(env.Description) {
			t.Errorf("description %d bytes, valid=%v", len(env.Description), utf8.ValidString(env.Description))
		}
		if env.Extra[ExtraDescriptionTruncated] != "33000" {
			t.Errorf("description_truncated = %q", env.Extra[ExtraDescriptionTruncated])
		}
	})
	t.Run("subject only becomes the description", func(t *testing.T) {
		f := fixtureNamed(t, "subject only")
		p, _ := ParseMessage(f.raw, ParseOptions{})
		env, err := BuildEnvelope(ingesttest.References(), &p, meta, f.raw, nil, nil)
		if err != nil || env.Description != "只有主题" {
			t.Errorf("Description = %q, err %v", env.Description, err)
		}
	})
	t.Run("attachments only", func(t *testing.T) {
		raw := msg([]string{"From: a@example.com", `Content-Type: multipart/mixed; boundary=x`},
			"--x\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n"+b64(string(pngBytes))+"\n--x--")
		p, _ := ParseMessage(raw, ParseOptions{})
		ns := []NotStored{{Name: "a.png", Size: 3, Reason: NotStoredTooLarge, SHA256: "ab"}}
		env, err := BuildEnvelope(ingesttest.References(), &p, meta, raw, []ingest.Attachment{{Name: "a.png"}}, ns)
		if err != nil || env.Description != NoTextDescription {
			t.Fatalf("Description = %q, err %v", env.Description, err)
		}
		var got []NotStored
		if err := json.Unmarshal([]byte(env.Extra[ExtraAttachmentsNotStored]), &got); err != nil || len(got) != 1 || got[0] != ns[0] {
			t.Errorf("attachments_not_stored = %s (%v)", env.Extra[ExtraAttachmentsNotStored], err)
		}
	})
	t.Run("HTML kept sanitised", func(t *testing.T) {
		f := fixtureNamed(t, "HTML only in GBK")
		p, _ := ParseMessage(f.raw, ParseOptions{})
		env, err := BuildEnvelope(ingesttest.References(), &p, meta, f.raw, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if env.Extra[ExtraHTML] == "" || strings.Contains(env.Extra[ExtraHTML], "<script") || env.Extra[ExtraTextFromHTML] != "true" {
			t.Errorf("extra = %v", env.Extra)
		}
		if strings.Contains(env.Description, "<") {
			t.Errorf("Description has markup: %q", env.Description)
		}
	})
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"=?utf-8?Q?a_b?= c", "a b c"},
		{"=?UTF-8?B?5oqV?= =?UTF-8?B?6K+J?=", "投诉"},
		{"x =?utf-8?q?=E6=8A=95?=  =?utf-8?q?=E8=AF=89?= y", "x 投诉 y"},
		{"=?utf-8*zh?B?5oqV6K+J?=", "投诉"},
		{"=?utf-8?B?5oqV6K+J?=", "投诉"},
		{"=?utf-8?B?5oqV6K+J", "=?utf-8?B?5oqV6K+J"}, // unterminated: kept
		{"=?utf-8?B?5oqV6K-J?=", "投\uFFFD"},          // broken base64: the decodable part
		{"=?x-unknown?B?5oqV6K+J?=", "投诉"},           // unknown charset, valid UTF-8 bytes
		{"=?utf-8?Q?=ZZ?=", "=?utf-8?Q?=ZZ?="},       // undecodable: kept
	}
	for _, tt := range tests {
		if got := decodeHeader(tt.in, ""); got != tt.want {
			t.Errorf("decodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLenientBase64(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{b64("hello world"), "hello world", true},
		{"aGVs\r\nbG8=", "hello", true},
		{"aGVsbG8", "hello", true},                                    // no padding
		{"aGVs*bG8=", "hello", false},                                 // garbage skipped
		{"aGk=aGk=", "hihi", true},                                    // concatenated encodings
		{"aGVsbG8gd", "hello ", false},                                // dangling char
		{"aGVsbG8=\r\n--\r\nSent from my iPhone\r\n", "hello", false}, // a signature after it
		{"", "", true},
	}
	for _, tt := range tests {
		got, ok := lenientBase64([]byte(tt.in))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("lenientBase64(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFindReference(t *testing.T) {
	ref := ingest.ReferenceFor(ingest.NewID(ingest.ChannelWebForm, "", "x"))
	tests := []struct{ in, want string }{
		{"Re: 您的投诉 " + ref, ref},
		{"【受理编号" + ref + "】", ref},
		{"re: " + strings.ToLower(ref), ref},
		{"X" + ref, ""},      // glued to a letter
		{ref + "9", ""},      // glued to a digit
		{"TSIIIIIIIIII", ""}, // I is not in the alphabet
		{"no reference here", ""},
	}
	for _, tt := range tests {
		if got := findReference(tt.in); got != tt.want {
			t.Errorf("findReference(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
