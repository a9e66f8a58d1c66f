package ingest

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPhoneE164(t *testing.T) {
	tests := []struct {
		in, want string
		message  string // the refusal's message when want is ""
	}{
		{"13800138000", "+8613800138000", ""},
		{"138 0013 8000", "+8613800138000", ""},
		{"138-0013-8000", "+8613800138000", ""},
		{" 138.0013.8000 ", "+8613800138000", ""},
		{"+86 138 0013 8000", "+8613800138000", ""},
		{"0086 13800138000", "+8613800138000", ""},
		{"8613800138000", "+8613800138000", ""},
		{"１３８００１３８０００", "+8613800138000", ""},
		{"＋８６　１３８００１３８０００", "+8613800138000", ""},
		{"(010) 6234 5678", "+861062345678", ""},
		{"010-62345678", "+861062345678", ""},
		{"（０１０）６２３４５６７８", "+861062345678", ""},
		{"0755-8376 5566", "+8675583765566", ""},
		{"+86 21 6234 5678", "+862162345678", ""},
		{"400-888-8888", "+864008888888", ""},
		{"800 810 1234", "+868008101234", ""},
		{"+1 (415) 555-2671", "+14155552671", ""},
		{"+852 2123 4567", "+85221234567", ""},
		// A landline without its area code cannot be called back.
		{"62345678", "", msgPhoneAreaCode},
		{"6234 567", "", msgPhoneAreaCode},
		{"６２３４５６７８", "", msgPhoneAreaCode},
		{"+86 62345678", "", msgPhoneAreaCode},
		// Mobiles have 11 digits.
		{"1380013800", "", msgPhoneMobile},
		{"138001380000", "", msgPhoneMobile},
		{"12345678", "", msgPhoneUnknown},
		{"+86 138 0013 800", "", msgPhoneMobile},
		{"12345678901", "", msgPhoneUnknown},
		{"95588", "", msgPhoneUnknown},
		{"0100000000", "", msgPhoneUnknown},
		{"123456", "", msgPhoneUnknown},
		{"+1 234", "", msgPhoneUnknown},
		{"1234567890123456", "", msgPhoneUnknown},
		{"", "", msgPhoneChars},
		{"   ", "", msgPhoneChars},
		{"+", "", msgPhoneChars},
		{"138abc00138000", "", msgPhoneChars},
		{"138+00138000", "", msgPhoneChars},
		{"++8613800138000", "", msgPhoneChars},
		{"电话13800138000", "", msgPhoneChars},
		{"13800138000\x00", "", msgPhoneChars},
	}
	for _, tt := range tests {
		got, err := PhoneE164(tt.in)
		if got != tt.want {
			t.Errorf("PhoneE164(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if tt.want != "" {
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "phone" || fe.Message != tt.message {
			t.Errorf("PhoneE164(%q) error %v, want the phone FieldError %q", tt.in, err, tt.message)
		}
	}
}

func TestConfigCompletePhone(t *testing.T) {
	beijing := Config{DefaultAreaCode: "010"}
	tests := []struct {
		c        Config
		in, want string
	}{
		{beijing, "62345678", "010-62345678"},
		{beijing, " 6234 5678 ", "010-6234 5678"},
		{beijing, "６２３４５６７８", "010-６２３４５６７８"},
		{Config{DefaultAreaCode: "0755"}, "8376556", "0755-8376556"},
		{beijing, "13800138000", "13800138000"},
		{beijing, "1380013800", "1380013800"},
		{beijing, "12345678", "12345678"}, // not a landline number
		{beijing, "021-62345678", "021-62345678"},
		{beijing, "+86 62345678", "+86 62345678"},
		{Config{}, "62345678", "62345678"},
	}
	for _, tt := range tests {
		got, ok := tt.c.CompletePhone(tt.in)
		if got != tt.want || ok != (got != tt.in) {
			t.Errorf("%+v.CompletePhone(%q) = %q, %v; want %q", tt.c, tt.in, got, ok, tt.want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	e := Envelope{Phone: "62345678", Description: "宽带断网三天了"}
	if errs := (Config{DefaultAreaCode: "010"}).Check(&e); len(errs) != 0 {
		t.Fatalf("Check = %v", errs)
	}
	if e.Phone != "010-62345678" || e.Extra[ExtraPhoneAreaCode] != "010" {
		t.Fatalf("envelope after Check: phone %q, extra %v", e.Phone, e.Extra)
	}
	e = Envelope{Phone: "62345678", Description: "宽带断网三天了"}
	errs := Config{}.Check(&e)
	if len(errs) != 1 || errs[0].Message != msgPhoneAreaCode || e.Phone != "62345678" || e.Extra != nil {
		t.Fatalf("Check without a default area code = %v, envelope %+v", errs, e)
	}
}

func TestConfigValidate(t *testing.T) {
	for code, ok := range map[string]bool{"": true, "010": true, "0755": true, "021": true, "10": false, "0": false, "00755": false, "010-": false, "０１０": false} {
		err := Config{DefaultAreaCode: code}.Validate()
		if (err == nil) != ok {
			t.Errorf("Validate(default_area_code %q) = %v, want ok=%v", code, err, ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "default_area_code: ") {
			t.Errorf("Validate error %q does not name its key", err)
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

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		env    Envelope
		fields []string
	}{
		{"valid phone", Envelope{Phone: "13800138000", Description: "信号差"}, nil},
		{"valid email", Envelope{Email: "a@example.com", Description: "信号差"}, nil},
		{"no contact", Envelope{Description: "信号差"}, []string{"phone"}},
		{"bad phone", Envelope{Phone: "12", Description: "信号差"}, []string{"phone"}},
		{"landline without area code", Envelope{Phone: "62345678", Description: "信号差"}, []string{"phone"}},
		{"ten-digit mobile", Envelope{Phone: "1380013800", Email: "a@example.com", Description: "信号差"}, []string{"phone"}},
		{"bad email", Envelope{Phone: "13800138000", Email: "x", Description: "信号差"}, []string{"email"}},
		{"empty description", Envelope{Phone: "13800138000", Description: "  "}, []string{"description"}},
		{"long phone reported once", Envelope{Phone: strings.Repeat("1", MaxPhoneBytes+1), Description: "x"}, []string{"phone"}},
		{"non-UTF-8 name", Envelope{Name: "\xff", Phone: "13800138000", Description: "x"}, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.env.Validate()
			var got []string
			for _, fe := range errs {
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("Validate fields = %v, want %v (%v)", got, tt.fields, errs)
			}
		})
	}
}

func TestPhoneDigits(t *testing.T) {
	if got := PhoneDigits("+86 (138) ００１３-8000"); got != "8613800138000" {
		t.Fatalf("PhoneDigits = %q", got)
	}
}

func FuzzPhoneE164(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138 0013 8000", "００８６１３８", "(010)6234-5678", "62345678", "0100000000", "", "+", "00", "\xff\xfe", "１２３４５６７８９０１２３４５６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := PhoneE164(s)
		if err == nil {
			if len(p) < 8 || p[0] != '+' || p[1] == '0' || strings.Trim(p[1:], "0123456789") != "" {
				t.Fatalf("PhoneE164(%q) = %q, not E.164", s, p)
			}
			if again, err := PhoneE164(p); err != nil || again != p {
				t.Fatalf("PhoneE164(%q) = %q, %v; want it unchanged", p, again, err)
			}
			if !utf8.ValidString(s) {
				t.Fatalf("PhoneE164 accepted invalid UTF-8 %q", s)
			}
		}
		m := MaskPhone(s)
		if n := len(PhoneDigits(m)); n > 7 {
			t.Fatalf("MaskPhone(%q) = %q keeps %d digits", s, m, n)
		}
	})
}
