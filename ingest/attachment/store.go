// Package attachment keeps the files customers attach to complaints in a
// content-addressed store on local disk. A file is stored once under the
// SHA-256 of its content (dir/ab/abcdef…), so the same content sent twice
// is one file, and an envelope refers to it by name, type, size and hash.
//
// The store decides the type of a file from its whole content, never from
// the client's file name or declared type, and accepts only the types on
// its allow-list (DefaultAllowedTypes unless configured otherwise). Text
// that carries markup a browser would run (SVG, HTML, script) is not
// text/plain. Whoever serves stored files back must send them with
// Content-Disposition: attachment and X-Content-Type-Options: nosniff.
package attachment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
)

// Errors returned by Put and Open; test for them with errors.Is.
var (
	// ErrTooLarge means the content was longer than the limit given to Put.
	ErrTooLarge = errors.New("attachment: file too large")
	// ErrEmpty means the content had no bytes.
	ErrEmpty = errors.New("attachment: file is empty")
	// ErrTypeNotAllowed means the detected type is not on the allow-list.
	ErrTypeNotAllowed = errors.New("attachment: file type not allowed")
	// ErrNotFound means no file with that hash is stored.
	ErrNotFound = errors.New("attachment: not found")
)

// MaxNameBytes bounds the length of a sanitized file name.
const MaxNameBytes = 200

// The media types of the common office formats.
const (
	TypeDOC  = "application/msword"
	TypeXLS  = "application/vnd.ms-excel"
	TypePPT  = "application/vnd.ms-powerpoint"
	TypeDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	TypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	TypePPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

// DefaultAllowedTypes is the allow-list a store uses unless its Config
// names another: photos and screenshots (JPEG, PNG, GIF, WebP, HEIC), PDF,
// plain text and the Microsoft Office formats, old and new. Archives,
// executables, HTML and SVG (which can carry scripts) are not accepted.
var DefaultAllowedTypes = []string{
	"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
	"application/pdf",
	"text/plain",
	TypeDOC, TypeXLS, TypePPT, TypeDOCX, TypeXLSX, TypePPTX,
}

// Config configures a Store. The zero value means DefaultAllowedTypes.
type Config struct {
	// AllowedTypes lists the media types (without parameters) Put
	// accepts, as detected from the content by DetectType.
	AllowedTypes []string `yaml:"allowed_types"`
}

// DefaultConfig returns the configuration used by Open.
func DefaultConfig() Config {
	return Config{AllowedTypes: append([]string(nil), DefaultAllowedTypes...)}
}

// Validate checks that every allowed type is a media type without
// parameters.
func (c Config) Validate() error {
	for _, t := range c.AllowedTypes {
		mt, params, err := mime.ParseMediaType(t)
		if err != nil || len(params) > 0 || mt != t {
			return fmt.Errorf("attachment: allowed_types: %q is not a lower-case media type without parameters", t)
		}
	}
	return nil
}

// Store is a content-addressed file store in one directory. It is safe for
// concurrent use, also by several processes sharing the directory: files
// are written to a temporary name and renamed into place, and two writers
// of the same content produce the same file.
type Store struct {
	dir     string
	allowed map[string]bool // nil: every type (OpenEvidence)
}

// Open opens (creating it if needed) the store in dir with DefaultConfig.
func Open(dir string) (*Store, error) {
	return OpenConfig(dir, DefaultConfig())
}

// OpenEvidence opens (creating it if needed) a store in dir that keeps
// content of every type: for what tousu keeps as evidence itself, such as
// the raw bytes of quarantined mail, never for files customers upload.
func OpenEvidence(dir string) (*Store, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.allowed = nil
	return s, nil
}

// OpenConfig opens (creating it if needed) the store in dir with cfg. It
// removes temporary files that an interrupted Put left behind more than an
// hour ago.
func OpenConfig(dir string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.AllowedTypes) == 0 {
		cfg = DefaultConfig()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("attachment: create store: %w", err)
	}
	s := &Store{dir: dir, allowed: make(map[string]bool)}
	for _, t := range cfg.AllowedTypes {
		s.allowed[t] = true
	}
	s.removeStaleTemps(time.Hour)
	return s, nil
}

// Allowed reports whether Put accepts content of the given media type.
func (s *Store) Allowed(mediaType string) bool { return s.allowed == nil || s.allowed[mediaType] }

const tempPattern = ".upload-*"

// Put stores the content read from r, streaming it to disk, and returns
// its record. name is the client's file name (sanitized with
// SanitizeName); the type is what DetectType finds in the content. Put
// reads at most max+1 bytes: longer content fails with ErrTooLarge and
// nothing is kept. Empty content fails with ErrEmpty, a type that is not
// allowed with ErrTypeNotAllowed. Put returns only after the file is
// synced to disk.
func (s *Store) Put(r io.Reader, name string, max int64) (ingest.Attachment, error) {
	name = SanitizeName(name)
	tmp, err := os.CreateTemp(s.dir, tempPattern)
	if err != nil {
		return ingest.Attachment{}, fmt.Errorf("attachment: create temp file: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	h := sha256.New()
	var sniff sniffer
	n, err := io.Copy(io.MultiWriter(tmp, h, &sniff), io.LimitReader(r, max+1))
	if err != nil {
		return ingest.Attachment{}, fmt.Errorf("attachment: write %q: %w", name, err)
	}
	switch {
	case n > max:
		return ingest.Attachment{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	case n == 0:
		return ingest.Attachment{}, ErrEmpty
	}
	typ := sniff.Type()
	if !s.Allowed(typ) {
		return ingest.Attachment{}, fmt.Errorf("%w: %s", ErrTypeNotAllowed, typ)
	}
	if err := tmp.Sync(); err != nil {
		return ingest.Attachment{}, fmt.Errorf("attachment: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return ingest.Attachment{}, fmt.Errorf("attachment: close: %w", err)
	}

	sum := hex.EncodeToString(h.Sum(nil))
	final := s.path(sum)
	if _, err := os.Stat(final); err != nil {
		if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
			return ingest.Attachment{}, fmt.Errorf("attachment: create dir: %w", err)
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			return ingest.Attachment{}, fmt.Errorf("attachment: store: %w", err)
		}
		kept = true
		syncDir(filepath.Dir(final))
	}
	return ingest.Attachment{Name: name, Type: typ, Size: n, SHA256: sum}, nil
}

// Open returns the content stored under the hex SHA-256 sum sha. A sum that
// is not 64 hex digits or not stored gives an error matching ErrNotFound.
// The caller closes the reader.
func (s *Store) Open(sha string) (io.ReadCloser, error) {
	if !validSum(sha) {
		return nil, fmt.Errorf("%w: %q is not a SHA-256 sum", ErrNotFound, sha)
	}
	f, err := os.Open(s.path(strings.ToLower(sha)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	if err != nil {
		return nil, fmt.Errorf("attachment: open %s: %w", sha, err)
	}
	return f, nil
}

// Delete removes the content stored under the hex SHA-256 sum sha, when
// no case refers to it any more (the personal information of the cases
// that did was erased). It reports whether there was content to remove;
// a sum that is not 64 hex digits gives an error matching ErrNotFound.
func (s *Store) Delete(sha string) (bool, error) {
	if !validSum(sha) {
		return false, fmt.Errorf("%w: %q is not a SHA-256 sum", ErrNotFound, sha)
	}
	p := s.path(strings.ToLower(sha))
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("attachment: delete %s: %w", sha, err)
	}
	syncDir(filepath.Dir(p))
	return true, nil
}

// path is where the content with the given sum lives.
func (s *Store) path(sum string) string {
	return filepath.Join(s.dir, sum[:2], sum)
}

func (s *Store) removeStaleTemps(age time.Duration) {
	matches, _ := filepath.Glob(filepath.Join(s.dir, tempPattern))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && time.Since(fi.ModTime()) > age {
			os.Remove(m)
		}
	}
}

func validSum(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// syncDir makes a rename durable; failures are ignored because not every
// platform can sync a directory and the file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// SanitizeName reduces a client's file name to something safe to show and
// store: the base name only (a Windows path such as C:\fakepath\a.png
// included), valid UTF-8, no control characters, at most MaxNameBytes
// bytes (the extension is kept when shortening), and "attachment" when
// nothing is left.
func SanitizeName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." || name == "/" {
		return "attachment"
	}
	if len(name) > MaxNameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 || !utf8.ValidString(ext) {
			ext = ""
		}
		stem := name[:MaxNameBytes-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		name = stem + ext
	}
	return name
}

// DetectType returns the media type (without parameters) of content:
// http.DetectContentType on its first 512 bytes plus the signatures it
// lacks (HEIC photos, OLE2 office files), and a look at all of it for what
// the first bytes do not tell. A ZIP file is an Office document only when
// it holds the document's main part (word/document.xml, xl/workbook.xml,
// ppt/presentation.xml), an OLE2 file when it holds the stream of a Word,
// Excel or PowerPoint file; otherwise they stay application/zip and
// application/x-ole-storage. Text with markup anywhere in it (a tag
// such as <svg, <script, <html, <iframe, <img, or <!doctype, <?xml) is
// image/svg+xml or text/html, not text/plain.
func DetectType(content []byte) string {
	var s sniffer
	s.Write(content)
	return s.Type()
}

// sniffer is the io.Writer behind DetectType: it keeps the first 512
// bytes written to it and notes which markers occur anywhere, ignoring
// ASCII case, so that Put can type what it streams to disk.
type sniffer struct {
	head  []byte
	tail  []byte // the last bytes written, lower-cased, for markers across writes
	found map[string]bool
}

// The markers the sniffer looks for, lower-case.
var (
	zipParts = []struct{ marker, typ string }{
		{"word/document.xml", TypeDOCX}, {"xl/workbook.xml", TypeXLSX}, {"ppt/presentation.xml", TypePPTX},
	}
	oleStreams = []struct{ marker, typ string }{ // UTF-16LE stream names; the first found decides
		{utf16le("worddocument"), TypeDOC}, {utf16le("powerpoint document"), TypePPT},
		{utf16le("workbook"), TypeXLS}, {utf16le("book\x00"), TypeXLS},
	}
	markup = []string{
		"<svg", "<script", "<html", "<iframe", "<frame", "<object", "<embed", "<applet", "<img", "<image",
		"<body", "<head", "<meta", "<link", "<style", "<base", "<form", "<math", "<a ", "<a\t", "<a\n",
		"<!doctype", "<?xml", "<xml", "<xsl", "<!entity", "<x:", "<html:",
	}
	markers    = allMarkers()
	maxMarker  = longest(markers)
	lowerTable = func() (t [256]byte) {
		for i := range t {
			t[i] = byte(i)
			if 'A' <= i && i <= 'Z' {
				t[i] += 'a' - 'A'
			}
		}
		return t
	}()
)

func utf16le(s string) string {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return string(b)
}

func allMarkers() []string {
	var all []string
	for _, z := range zipParts {
		all = append(all, z.marker)
	}
	for _, o := range oleStreams {
		all = append(all, o.marker)
	}
	return append(all, markup...)
}

func longest(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len(s))
	}
	return n
}

// Write notes the head and the markers in p. It never fails.
func (s *sniffer) Write(p []byte) (int, error) {
	if room := 512 - len(s.head); room > 0 {
		s.head = append(s.head, p[:min(room, len(p))]...)
	}
	if s.found == nil {
		s.found = make(map[string]bool)
	}
	buf := s.tail
	for _, c := range p {
		buf = append(buf, lowerTable[c])
	}
	text := string(buf)
	for _, m := range markers {
		if !s.found[m] && strings.Contains(text, m) {
			s.found[m] = true
		}
	}
	keep := min(len(buf), maxMarker-1)
	s.tail = append(s.tail[:0:0], buf[len(buf)-keep:]...)
	return len(p), nil
}

// Type returns the media type of what was written (see DetectType).
func (s *sniffer) Type() string {
	pick := func(container string, candidates []struct{ marker, typ string }) string {
		for _, c := range candidates {
			if s.found[c.marker] {
				return c.typ
			}
		}
		return container
	}
	switch {
	case bytes.HasPrefix(s.head, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		return pick("application/x-ole-storage", oleStreams)
	case isHEIC(s.head):
		return "image/heic"
	}
	t, _, _ := mime.ParseMediaType(http.DetectContentType(s.head))
	switch t {
	case "application/zip":
		return pick(t, zipParts)
	case "text/plain":
		if s.found["<svg"] {
			return "image/svg+xml"
		}
		for _, m := range markup {
			if s.found[m] {
				return "text/html"
			}
		}
	}
	return t
}

// isHEIC recognises the ISO base media file box of HEIF/HEIC images.
func isHEIC(head []byte) bool {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return false
	}
	switch string(head[8:12]) {
	case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
		return true
	}
	return false
}
