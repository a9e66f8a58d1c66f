package webform

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/ingest"
)

// Organisation is who the customer deals with: its name (in the header
// and the title of every public page), an optional logo, the hotline
// and the privacy notice (个人信息处理规则) customers agree to on the form.
type Organisation struct {
	// Name is the organisation's name. Default DefaultOrganisationName.
	Name string `yaml:"name"`
	// Logo is the path of a PNG, JPEG, GIF or WebP image of at most
	// MaxLogoBytes (relative to the configuration file), read once at
	// start and served from memory at /logo. Empty: no logo.
	Logo string `yaml:"logo"`
	// Hotline is the telephone number customers may call, shown in the
	// header and the footer as a tel: link. Empty: none shown.
	Hotline string `yaml:"hotline"`
	// Privacy is the notice shown at /privacy.
	Privacy PrivacyNotice `yaml:"privacy"`
}

// PrivacyNotice is the privacy notice (个人信息处理规则) of
// 个人信息保护法 Art. 17: the handler's name and contact, the purpose
// and method of processing, the kinds of personal information, the
// retention period and how to exercise the rights to consult, copy,
// correct and delete. The form asks for consent to it and the case keeps
// the version agreed to.
type PrivacyNotice struct {
	// Version names the notice's text, e.g. "2026-12"; change it with the
	// text. At most ingest.MaxConsentVersionBytes bytes. Default
	// DefaultPrivacyVersion.
	Version string `yaml:"version"`
	// Text is the notice in plain paragraphs separated by blank lines.
	// Default DefaultPrivacyText (a template to adapt), unless File is
	// set.
	Text string `yaml:"text"`
	// File is the path of a UTF-8 text file holding the notice instead
	// of Text (relative to the configuration file), read once at start.
	File string `yaml:"file"`
}

// Defaults of Organisation. The built-in notice is a template that says
// so: an installation adapts it (configs/embedded.yaml has an example).
const (
	DefaultOrganisationName = "投诉受理中心"
	DefaultPrivacyVersion   = "模板"
	DefaultPrivacyText      = `【本规则为模板，请按本单位实际情况修改后使用，并在配置中填写版本号。】

个人信息处理者：本单位（名称与联系方式见页面顶部和底部）。

处理目的和方式：我们仅为受理、调查、答复您的投诉以及回访而处理您的个人信息；由本单位工作人员在投诉处理系统中查阅和处理，必要时提供给负责处理该投诉的部门。

个人信息种类：您填写的姓名、手机号码、电子邮箱，投诉内容中的信息，以及您上传的附件。

保存期限：投诉办结后保存三年，期满后删除或匿名化处理，法律法规另有规定的除外。

您的权利：您可以查阅、复制、更正、删除您的个人信息，或撤回同意，请拨打服务热线或写信联系我们；我们将在十五个工作日内答复。撤回同意不影响撤回前已进行的处理。`
)

// The pages of the organisation (relative to the router Mount is given).
const (
	PathPrivacy = "/privacy"
	PathLogo    = "/logo"
)

// MaxLogoBytes bounds the logo file.
const MaxLogoBytes = 256 << 10

// maxPrivacyBytes bounds the privacy notice.
const maxPrivacyBytes = 64 << 10

// Provision fills the defaults of o.
func (o *Organisation) Provision() {
	if o.Name == "" {
		o.Name = DefaultOrganisationName
	}
	if o.Privacy.Version == "" {
		o.Privacy.Version = DefaultPrivacyVersion
	}
	if o.Privacy.Text == "" && o.Privacy.File == "" {
		o.Privacy.Text = DefaultPrivacyText
	}
}

// Validate checks o without reading its files; every error names its key
// (name, privacy.version, …).
func (o Organisation) Validate() error {
	var errs []error
	if utf8.RuneCountInString(o.Name) > 50 {
		errs = append(errs, errors.New("name: at most 50 characters"))
	}
	if strings.ContainsFunc(o.Hotline, func(r rune) bool { return !strings.ContainsRune("0123456789+-() ", r) }) {
		errs = append(errs, fmt.Errorf("hotline: %q: only digits, spaces and + - ( )", o.Hotline))
	}
	if v := o.Privacy.Version; v != "" && !ingest.ValidConsentVersion(v) {
		errs = append(errs, fmt.Errorf("privacy.version: at most %d bytes, one line", ingest.MaxConsentVersionBytes))
	}
	if o.Privacy.Text != "" && o.Privacy.File != "" {
		errs = append(errs, errors.New("privacy: text and file: set one"))
	}
	if len(o.Privacy.Text) > maxPrivacyBytes {
		errs = append(errs, fmt.Errorf("privacy.text: at most %d bytes", maxPrivacyBytes))
	}
	return errors.Join(errs...)
}

// logo is an image served from memory.
type logo struct {
	data        []byte
	contentType string
}

// logoTypes are the content types a logo may have. SVG is not one: it
// may carry scripts.
var logoTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// load reads the logo and the notice's file (relative to dir) and returns
// the logo (nil without one) and the notice's paragraphs.
func (o Organisation) load(dir string) (*logo, []string, error) {
	var errs []error
	var lg *logo
	if o.Logo != "" {
		b, err := readBounded(dir, o.Logo, MaxLogoBytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("logo: %w", err))
		} else if t := http.DetectContentType(b); !logoTypes[t] {
			errs = append(errs, fmt.Errorf("logo: %s is %s, not a PNG, JPEG, GIF or WebP image", o.Logo, t))
		} else {
			lg = &logo{data: b, contentType: t}
		}
	}
	text := o.Privacy.Text
	if o.Privacy.File != "" {
		b, err := readBounded(dir, o.Privacy.File, maxPrivacyBytes)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("privacy.file: %w", err))
		case !utf8.Valid(b):
			errs = append(errs, fmt.Errorf("privacy.file: %s is not UTF-8 text", o.Privacy.File))
		default:
			text = string(b)
		}
	}
	return lg, paragraphs(text), errors.Join(errs...)
}

// readBounded reads the file at path (relative to dir) of at most max
// bytes.
func readBounded(dir, path string, max int64) ([]byte, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", path, info.Size(), max)
	}
	return os.ReadFile(path)
}

// paragraphs splits plain text at blank lines (empty or only spaces); a
// paragraph keeps its line breaks.
func paragraphs(text string) []string {
	var out, para []string
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			para = append(para, line)
			continue
		}
		if len(para) > 0 {
			out, para = append(out, strings.Join(para, "\n")), nil
		}
	}
	if len(para) > 0 {
		out = append(out, strings.Join(para, "\n"))
	}
	return out
}

// serveLogo answers GET /logo with the logo.
func (f *Form) serveLogo(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, f.logo.contentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(f.logo.data)
}

// mountOrganisation registers GET /privacy and, with a logo, GET /logo.
func (f *Form) mountOrganisation(app fiber.Router) {
	app.Get(PathPrivacy, f.showPrivacy)
	if f.logo != nil {
		app.Get(PathLogo, f.serveLogo)
	}
}

// showPrivacy answers GET /privacy with the privacy notice.
func (f *Form) showPrivacy(c *fiber.Ctx) error {
	return f.render(c, fiber.StatusOK, "privacy", pageData{Title: "个人信息处理规则", Base: mountBase(c), Privacy: f.privacy})
}

// consentMissing is the message under the consent checkbox when it was
// left unticked.
const consentMissing = "请阅读《个人信息处理规则》并勾选同意后再提交。"
