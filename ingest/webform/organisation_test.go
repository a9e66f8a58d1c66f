package webform

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
	"github.com/tousu/tousu/internal/secret"
)

// notice is an installation's privacy notice, as an operator writes it:
// CR LF line breaks, a paragraph over two lines, blank lines with spaces.
const notice = "个人信息处理者：某某通信有限公司北京分公司，地址北京市海淀区中关村大街1号，联系电话 010-62345678。\r\n  \r\n" +
	"处理目的：受理和答复您的投诉、回访。\r\n处理方式：客服人员在投诉系统中查阅处理。\r\n\r\n" +
	"保存期限：办结后3年（2029年12月前删除）。\r\n\r\n您可以查阅、复制、更正、删除您的个人信息，请拨打10000转人工。"

func orgConfig(dir string) Config {
	return Config{Dir: dir, Organisation: Organisation{
		Name: "某某通信北京分公司", Hotline: "400-810-0000", Logo: "logo.png",
		Privacy: PrivacyNotice{Version: "2026-12", File: "privacy.txt"},
	}}
}

func writeFile(tb testing.TB, dir, name string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// wantError fails unless err is nil when want is empty, else an error
// that contains want.
func wantError(tb testing.TB, err error, want string) {
	tb.Helper()
	switch {
	case want == "" && err != nil:
		tb.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		tb.Fatalf("error %v, want one with %q", err, want)
	}
}

func TestOrganisationValidate(t *testing.T) {
	tests := []struct {
		name string
		org  Organisation
		want string // in the error; "" for none
	}{
		{"defaults", Organisation{}, ""},
		{"configured", Organisation{Name: "某某物业服务有限公司", Hotline: "+86 (010) 6234-5678", Privacy: PrivacyNotice{Version: "2026-12", Text: "……"}}, ""},
		{"hotline with letters", Organisation{Hotline: "400-TOUSU"}, "organisation.hotline:"},
		{"hotline with a full-width dash", Organisation{Hotline: "400－810－0000"}, "organisation.hotline:"},
		{"version over 32 bytes", Organisation{Privacy: PrivacyNotice{Version: "2026年12月修订第二版（征求意见稿）"}}, "organisation.privacy.version:"},
		{"version of two lines", Organisation{Privacy: PrivacyNotice{Version: "2026-12\n2027-01"}}, "organisation.privacy.version:"},
		{"text and file", Organisation{Privacy: PrivacyNotice{Text: "……", File: "privacy.txt"}}, "organisation.privacy: text and file"},
		{"text too long", Organisation{Privacy: PrivacyNotice{Text: strings.Repeat("个人信息", 6000)}}, "organisation.privacy.text:"},
		{"name too long", Organisation{Name: strings.Repeat("某", 51)}, "organisation.name:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Organisation: tt.org}
			cfg.Provision()
			wantError(t, cfg.Validate(), tt.want)
		})
	}
}

func TestProvisionOrganisation(t *testing.T) {
	var cfg Config
	cfg.Provision()
	o := cfg.Organisation
	if o.Name != DefaultOrganisationName || o.Privacy.Version != DefaultPrivacyVersion || !strings.Contains(o.Privacy.Text, "模板") {
		t.Fatalf("defaults %+v", o)
	}
	for _, must := range []string{"处理目的", "个人信息种类", "保存期限", "查阅、复制、更正、删除"} {
		if !strings.Contains(o.Privacy.Text, must) {
			t.Errorf("the built-in notice says nothing of %s", must)
		}
	}
	cfg = Config{Organisation: Organisation{Privacy: PrivacyNotice{File: "privacy.txt"}}}
	cfg.Provision()
	if cfg.Organisation.Privacy.Text != "" {
		t.Fatal("the built-in text added to a notice given in a file")
	}
}

// TestNewReadsOrganisationFiles: the logo and the notice's file are read
// at start, and what cannot serve is refused with its key.
func TestNewReadsOrganisationFiles(t *testing.T) {
	gbk := []byte{0xb8, 0xf6, 0xc8, 0xcb, 0xd0, 0xc5, 0xcf, 0xa2} // 个人信息 in GBK
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	tests := []struct {
		name  string
		files map[string][]byte
		want  string // in New's error; "" for none
	}{
		{"logo and notice", map[string][]byte{"logo.png": pngFile, "privacy.txt": []byte(notice)}, ""},
		{"logo missing", map[string][]byte{"privacy.txt": []byte(notice)}, "organisation.logo:"},
		{"logo too large", map[string][]byte{"logo.png": append(append([]byte{}, pngFile...), make([]byte, MaxLogoBytes)...), "privacy.txt": []byte(notice)}, "organisation.logo:"},
		{"SVG logo", map[string][]byte{"logo.png": svg, "privacy.txt": []byte(notice)}, "organisation.logo: logo.png is text/"},
		{"notice in GBK", map[string][]byte{"logo.png": pngFile, "privacy.txt": gbk}, "organisation.privacy.file: privacy.txt is not UTF-8"},
		{"notice missing", map[string][]byte{"logo.png": pngFile}, "organisation.privacy.file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				writeFile(t, dir, name, b)
			}
			cfg := orgConfig(dir)
			cfg.CSRFSecret = secret.Inline(testCSRFSecret)
			cfg.Provision()
			_, err := New(cfg, Shared{References: ingesttest.References(), Ledger: &memLedger{}}, (&ingesttest.Recorder{}).Publish, nil, zap.NewNop(), nil)
			wantError(t, err, tt.want)
		})
	}
}

// TestOrganisationOnEveryPage: the name, the hotline and the link to the
// notice are on every public page; /privacy shows the notice, /logo the
// logo.
func TestOrganisationOnEveryPage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "logo.png", pngFile)
	writeFile(t, dir, "privacy.txt", []byte(notice))
	e := newTestEnv(t, orgConfig(dir))
	for _, path := range []string{"/", "/status", "/privacy", "/complaints", "/survey?t=forged"} {
		t.Run(path, func(t *testing.T) {
			_, body := e.do(t, httptest.NewRequest(http.MethodGet, path, nil))
			for _, want := range []string{
				" - 某某通信北京分公司</title>",
				`<img src="/logo" alt="">`,
				`<a class="tel" href="tel:4008100000">服务热线 400-810-0000</a>`,
				`<a href="/privacy">个人信息处理规则</a>`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("no %q on the page", want)
				}
			}
		})
	}
	_, body := e.do(t, httptest.NewRequest(http.MethodGet, "/privacy", nil))
	for _, want := range []string{
		"版本 2026-12",
		"<p>个人信息处理者：某某通信有限公司北京分公司，地址北京市海淀区中关村大街1号，联系电话 010-62345678。</p>",
		"<p>处理目的：受理和答复您的投诉、回访。\n处理方式：客服人员在投诉系统中查阅处理。</p>",
		"<p>您可以查阅、复制、更正、删除您的个人信息，请拨打10000转人工。</p>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/privacy without %q", want)
		}
	}
	resp, logo := e.do(t, httptest.NewRequest(http.MethodGet, "/logo", nil))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || logo != string(pngFile) {
		t.Fatalf("/logo: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(logo))
	}
}

func TestNoLogoNoHotline(t *testing.T) {
	e := newTestEnv(t, Config{})
	_, body := e.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Contains(body, "<img") || strings.Contains(body, "tel:") || !strings.Contains(body, "<strong>"+DefaultOrganisationName+"</strong>") {
		t.Fatalf("page without a logo or a hotline: %.2000s", body)
	}
	if resp, _ := e.do(t, httptest.NewRequest(http.MethodGet, "/logo", nil)); resp.StatusCode == http.StatusOK {
		t.Fatal("/logo served without a logo")
	}
}

// TestFormConsent: a post without the box ticked for the current notice
// comes back with everything typed and the message under the box, and
// nothing is published; ticked, the notice's version and the time are on
// the envelope.
func TestFormConsent(t *testing.T) {
	tests := []struct {
		name    string
		consent string // "" leaves the box unticked
		ok      bool
	}{
		{"ticked", "2026-12", true},
		{"unticked", "", false},
		{"ticked on a page of the old notice", "2026-06", false},
		{"a browser's default value", "on", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{Organisation: Organisation{Privacy: PrivacyNotice{Version: "2026-12"}}})
			s, page := e.open(t, "/")
			if !strings.Contains(page, `name="consent" value="2026-12" required>`) || !strings.Contains(page, "我已阅读并同意") || !strings.Contains(page, "（版本 2026-12）") {
				t.Fatalf("no unticked consent box on the form: %.3000s", page)
			}
			// Browsers send fields in page order, and a file is kept only
			// when every field before it is valid.
			if strings.Index(page, `name="consent"`) > strings.Index(page, `name="attachment"`) {
				t.Fatal("the consent box after the attachment: a ticked box would come too late to keep the file")
			}
			typed := map[string]string{
				"name":        "刘 芳",
				"phone":       "１３９１２３４５６７８", // full-width digits, as some phones type them
				"subject":     "12月5日停电后宽带没恢复",
				"description": "12/05停电之后光猫一直红灯，打10000说48小时内上门，到现在没人来。要求尽快修好并减免费用!!",
			}
			if tt.consent != "" {
				typed["consent"] = tt.consent
			}
			before := time.Now().UTC().Truncate(time.Second)
			resp, body := e.post(t, "/complaints", s, typed, nil)
			if !tt.ok {
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, consentMissing) || strings.Contains(body, `value="2026-12" checked`) {
					t.Fatalf("status %d, want 422 with the box unticked and %q: %.300s", resp.StatusCode, consentMissing, body)
				}
				delete(typed, "consent")
				retyped(t, resp, body, http.StatusUnprocessableEntity, msgFixFields, typed, s)
				if n := len(e.pub.Published()); n != 0 {
					t.Fatalf("published %d envelopes without consent", n)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %.300s", resp.StatusCode, body)
			}
			env := e.pub.Published()[0]
			c := ingest.ConsentOf(env.Extra)
			if c == nil || c.Version != "2026-12" || c.At.Before(before) || !c.At.Equal(env.ReceivedAt.Truncate(time.Second)) {
				t.Fatalf("consent %+v on the envelope (received %s, extra %v)", c, env.ReceivedAt, env.Extra)
			}
		})
	}
}

// TestFormConsentKeptOnOtherErrors: a ticked box stays ticked when
// another field must be fixed.
func TestFormConsentKeptOnOtherErrors(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	fields := validFields()
	fields["phone"] = "1380013800" // ten digits
	resp, body := e.post(t, "/complaints", s, fields, nil)
	retyped(t, resp, body, http.StatusUnprocessableEntity, msgFixFields, fields, s)
	if strings.Contains(body, consentMissing) {
		t.Fatal("consent message under a ticked box")
	}
}

func TestAPIConsent(t *testing.T) {
	const withConsent = `{"phone":"13800138000","description":"宽带12月1日起断网","consent":{"version":" 2026-12 "}}`
	const without = `{"phone":"13800138000","description":"宽带12月1日起断网"}`
	tests := []struct {
		name     string
		requires bool
		body     string
		status   int
		field    string
		version  string // recorded on the envelope
	}{
		{"optional, given", false, withConsent, http.StatusAccepted, "", "2026-12"},
		{"optional, not given", false, without, http.StatusAccepted, "", ""},
		{"required, given", true, withConsent, http.StatusAccepted, "", "2026-12"},
		{"required, not given", true, without, http.StatusUnprocessableEntity, "consent", ""},
		{"required, null", true, `{"phone":"13800138000","description":"断网","consent":null}`, http.StatusUnprocessableEntity, "consent", ""},
		{"empty version", false, `{"phone":"13800138000","description":"断网","consent":{"version":""}}`, http.StatusUnprocessableEntity, "consent.version", ""},
		{"version too long", false, `{"phone":"13800138000","description":"断网","consent":{"version":"` + strings.Repeat("v", 33) + `"}}`, http.StatusUnprocessableEntity, "consent.version", ""},
		{"unknown consent field", false, `{"phone":"13800138000","description":"断网","consent":{"version":"2026-12","agreed":true}}`, http.StatusBadRequest, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{APIRequiresConsent: tt.requires})
			resp, body := e.do(t, apiRequestWith(tt.body, apiToken, ""))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusAccepted {
				if a := decodeAnswer(t, body); a.Field != tt.field || len(e.pub.Published()) != 0 {
					t.Fatalf("answer %+v, want field %q and nothing published", a, tt.field)
				}
				return
			}
			env := e.pub.Published()[0]
			c := ingest.ConsentOf(env.Extra)
			switch {
			case tt.version == "" && c != nil:
				t.Fatalf("consent %+v recorded without one given", c)
			case tt.version != "" && (c == nil || c.Version != tt.version || !c.At.Equal(env.ReceivedAt.Truncate(time.Second))):
				t.Fatalf("consent %+v, want version %q at %s", c, tt.version, env.ReceivedAt)
			}
		})
	}
}
