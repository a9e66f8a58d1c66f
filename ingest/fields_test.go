package ingest

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckPhone(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"13800138000", true},
		{"138 0013 8000", true},
		{"138-0013-8000", true},
		{"+86 138 0013 8000", true},
		{"0086 13800138000", true},
		{"8613800138000", true},
		{"(010) 1234 5678", true},
		{"010-12345678", true},
		{"１３８００１３８０００", true},
		{"＋８６　１３８００１３８０００", true},
		{"（０１０）１２３４５６７８", true},
		{"+1 (415) 555-0100", true},
		{"8612345", true}, // a local number starting with 86 keeps its digits
		{"1234567", true},
		{"123456", false},
		{"+86 123456", false}, // the country code does not count
		{"1234567890123456", false},
		{"", false},
		{"   ", false},
		{"138abc00138000", false},
		{"138+00138000", false},
		{"++8613800138000", false},
		{"电话13800138000", false},
		{"13800138000\x00", false},
	}
	for _, tt := range tests {
		err := CheckPhone(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPhone(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "phone" || fe.Message == "" {
				t.Errorf("CheckPhone(%q) error %v is not a phone FieldError", tt.in, err)
			}
		}
	}
}

func TestCheckEmail(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"zhang@example.com", true},
		{"zhang.san+tousu@mail.example.cn", true},
		{" zhang@example.com ", true},
		{"zhang@localhost", false},
		{"zhang@", false},
		{"@example.com", false},
		{"zhang", false},
		{"张三 <zhang@example.com>", false},
		{"<zhang@example.com>", false},
		{"zhang@example.com.", false},
		{"a@b@example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		err := CheckEmail(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckEmail(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestCheckFields(t *testing.T) {
	tests := []struct {
		name   string
		env    Envelope
		fields []string
	}{
		{"valid phone", Envelope{Phone: "13800138000", Description: "信号差"}, nil},
		{"valid email", Envelope{Email: "a@example.com", Description: "信号差"}, nil},
		{"no contact", Envelope{Description: "信号差"}, []string{"phone"}},
		{"bad phone", Envelope{Phone: "12", Description: "信号差"}, []string{"phone"}},
		{"bad email", Envelope{Phone: "13800138000", Email: "x", Description: "信号差"}, []string{"email"}},
		{"empty description", Envelope{Phone: "13800138000", Description: "  "}, []string{"description"}},
		{"long phone reported once", Envelope{Phone: strings.Repeat("1", MaxPhoneBytes+1), Description: "x"}, []string{"phone"}},
		{"non-UTF-8 name", Envelope{Name: "\xff", Phone: "13800138000", Description: "x"}, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := CheckFields(&tt.env)
			var got []string
			for _, fe := range errs {
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("CheckFields fields = %v, want %v (%v)", got, tt.fields, errs)
			}
		})
	}
}

func TestPhoneDigits(t *testing.T) {
	if got := PhoneDigits("+86 (138) ００１３-8000"); got != "8613800138000" {
		t.Fatalf("PhoneDigits = %q", got)
	}
}

func FuzzCheckPhone(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138 0013 8000", "００８６１３８", "(010)1234-5678", "", "+", "00", "\xff\xfe", "１２３４５６７８９０１２３４５６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckPhone(s)
		digits := PhoneDigits(s)
		if err == nil {
			if n := len(digits); n < MinPhoneDigits || n > MaxPhoneDigits+4 {
				t.Fatalf("CheckPhone(%q) accepted %d digits", s, n)
			}
			if !utf8.ValidString(s) {
				t.Fatalf("CheckPhone accepted invalid UTF-8 %q", s)
			}
		}
		m := MaskPhone(s)
		if n := len(PhoneDigits(m)); n > 7 {
			t.Fatalf("MaskPhone(%q) = %q keeps %d digits", s, m, n)
		}
	})
}
