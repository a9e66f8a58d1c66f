package attachment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/internal/smallfs"
)

var pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func openStore(tb testing.TB) (*Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return s, dir
}

// storedFiles lists every regular file under dir.
func storedFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

func TestPutDedupesAndOpens(t *testing.T) {
	s, dir := openStore(t)
	content := append(append([]byte{}, pngHead...), bytes.Repeat([]byte{7}, 1000)...)
	a1, err := s.Put(bytes.NewReader(content), "照片.png", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.Put(bytes.NewReader(content), "copy.png", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	if a1.SHA256 != want || a2.SHA256 != want {
		t.Fatalf("sums %s %s, want %s", a1.SHA256, a2.SHA256, want)
	}
	if a1.Type != "image/png" || a1.Size != int64(len(content)) || a1.Name != "照片.png" || a2.Name != "copy.png" {
		t.Fatalf("unexpected records %+v %+v", a1, a2)
	}
	files := storedFiles(t, dir)
	if len(files) != 1 || files[0] != filepath.Join(dir, want[:2], want) {
		t.Fatalf("stored files = %v, want one at %s/%s", files, want[:2], want)
	}
	rc, err := s.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Open returned %d bytes, err %v", len(got), err)
	}
}

func TestPutRejects(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
		max     int64
		want    error
	}{
		{"too large", append(append([]byte{}, pngHead...), make([]byte, 100)...), 50, ErrTooLarge},
		{"empty", nil, 50, ErrEmpty},
		{"html", []byte("<html><script>alert(1)</script></html>"), 1000, ErrTypeNotAllowed},
		{"executable", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), 1000, ErrTypeNotAllowed},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), 1000, ErrTypeNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := openStore(t)
			_, err := s.Put(bytes.NewReader(tt.content), "file.bin", tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put error = %v, want %v", err, tt.want)
			}
			if files := storedFiles(t, dir); len(files) != 0 {
				t.Fatalf("files left behind: %v", files)
			}
		})
	}
}

func TestPutExactlyMax(t *testing.T) {
	s, _ := openStore(t)
	content := []byte("手机信号差了三天") // plain text, max is its exact length
	if _, err := s.Put(bytes.NewReader(content), "a.txt", int64(len(content))); err != nil {
		t.Fatalf("content of exactly max bytes rejected: %v", err)
	}
}

func TestOpenRejectsBadSums(t *testing.T) {
	s, _ := openStore(t)
	for _, sha := range []string{"", "../../etc/passwd", strings.Repeat("g", 64), strings.Repeat("a", 64)} {
		if _, err := s.Open(sha); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) error = %v, want ErrNotFound", sha, err)
		}
	}
}

// zipWith returns the start of a ZIP file whose first entry is name, as
// Office writes them.
func zipWith(name string) []byte {
	return append([]byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00\x21\x00"), []byte("0000000000000000"+name+"\x78\x9c")...)
}

// oleWith returns an OLE2 file with a directory entry named name.
func oleWith(name string) []byte {
	b := append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 1024)...)
	for _, r := range name {
		b = append(b, byte(r), 0)
	}
	return append(b, 0, 0)
}

// TestDetectType: the type follows the whole content, never a name or a
// declared type (DetectType has neither), and text carrying markup a
// browser runs is not text/plain, wherever the markup is.
func TestDetectType(t *testing.T) {
	longText := strings.Repeat("手机信号差了三天。", 200)
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"png", pngHead, "image/png"},
		{"jpeg", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF"), "image/jpeg"},
		{"pdf", []byte("%PDF-1.7\n<?xml version=\"1.0\"?><x:xmpmeta>"), "application/pdf"},
		{"text", []byte("手机信号差了三天"), "text/plain"},
		{"text with an e-mail address", []byte("From: 张三 <zhang@example.com>\n价格 < 5 元"), "text/plain"},
		{"docx", append(zipWith("[Content_Types].xml"), zipWith("word/document.xml")...), TypeDOCX},
		{"xlsx", zipWith("xl/workbook.xml"), TypeXLSX},
		{"pptx", zipWith("ppt/presentation.xml"), TypePPTX},
		{"plain zip", zipWith("evil.exe"), "application/zip"},
		{"doc", oleWith("WordDocument"), TypeDOC},
		{"xls", oleWith("Workbook"), TypeXLS},
		{"old xls", oleWith("Book"), TypeXLS},
		{"ppt", oleWith("PowerPoint Document"), TypePPT},
		{"ole unknown", oleWith("Contents"), "application/x-ole-storage"},
		{"heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), "image/heic"},
		{"html", []byte("<!DOCTYPE html><html>"), "text/html"},
		{"svg with onload", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "image/svg+xml"},
		{"svg after text", []byte("note\n<SVG onload=alert(1)>"), "image/svg+xml"},
		{"script far into text", []byte(longText + "<script>alert(1)</script>"), "text/html"},
		{"iframe", []byte("see <iframe src=//evil.example>"), "text/html"},
		{"link", []byte("点击 <a href=\"javascript:alert(1)\">这里</a>"), "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DetectType(tt.content); got != tt.want {
				t.Errorf("DetectType = %q, want %q", got, tt.want)
			}
			// Put sees the same, in writes of any size.
			var s sniffer
			for b := range slices.Chunk(tt.content, 7) {
				s.Write(b)
			}
			if got := s.Type(); got != tt.want {
				t.Errorf("sniffer in 7-byte writes = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPutStoresTheDetectedType: what Put records is the content's type,
// whatever the file is called, and active content is refused.
func TestPutStoresTheDetectedType(t *testing.T) {
	tests := []struct {
		name, file string
		content    []byte
		want       string
		err        error
	}{
		{"docx called png", "a.png", zipWith("word/document.xml"), TypeDOCX, nil},
		{"zip called docx", "a.docx", zipWith("evil.exe"), "", ErrTypeNotAllowed},
		{"svg called txt", "a.txt", []byte(`<svg onload="alert(1)"></svg>`), "", ErrTypeNotAllowed},
		{"html called txt", "a.txt", []byte("hello\n<script>alert(1)</script>"), "", ErrTypeNotAllowed},
		{"text called pdf", "a.pdf", []byte("手机信号差"), "text/plain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := openStore(t)
			att, err := s.Put(bytes.NewReader(tt.content), tt.file, 1<<20)
			if !errors.Is(err, tt.err) || att.Type != tt.want {
				t.Fatalf("Put = %+v, %v; want type %q, error %v", att, err, tt.want, tt.err)
			}
			if files := storedFiles(t, dir); (len(files) == 0) != (tt.err != nil) {
				t.Fatalf("stored files %v", files)
			}
		})
	}
}

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("投", 100) + ".pdf"
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{`C:\fakepath\照片.jpg`, "照片.jpg"},
		{"../../etc/passwd", "passwd"},
		{"a\x00b\r\n.txt", "ab.txt"},
		{"bad\xffname.txt", "badname.txt"},
		{"", "attachment"},
		{"..", "attachment"},
		{"  ", "attachment"},
		{"a\u202egpj.exe", "agpj.exe"},
	}
	for _, tt := range tests {
		if got := SanitizeName(tt.in); got != tt.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := SanitizeName(long)
	if len(got) > MaxNameBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("SanitizeName(long) = %q (%d bytes)", got, len(got))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"image/png; q=1", "Image/PNG", "not a type"} {
		if err := (Config{AllowedTypes: []string{bad}}).Validate(); err == nil {
			t.Errorf("Validate accepted %q", bad)
		}
	}
	s, err := OpenConfig(t.TempDir(), Config{AllowedTypes: []string{"application/pdf"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(bytes.NewReader(pngHead), "a.png", 100); !errors.Is(err, ErrTypeNotAllowed) {
		t.Fatalf("png accepted by a pdf-only store: %v", err)
	}
}

func TestOpenRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".upload-123")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file still there: %v", err)
	}
}

func TestEvidenceStoreKeepsEveryType(t *testing.T) {
	s, err := OpenEvidence(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	exe := append([]byte("MZ\x90\x00"), make([]byte, 64)...)
	att, err := s.Put(bytes.NewReader(exe), "raw.eml", 1<<20)
	if err != nil || att.Size != int64(len(exe)) {
		t.Fatalf("Put = %+v, %v", att, err)
	}
	if _, err := s.Put(bytes.NewReader(exe), "raw.eml", 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size limit not kept: %v", err)
	}
}

// FuzzDetectType: the type does not depend on how the content is split
// into writes, and text/plain never has a tag a browser would run.
func FuzzDetectType(f *testing.F) {
	f.Add([]byte("<svg onload=alert(1)>"), 3)
	f.Add(zipWith("word/document.xml"), 5)
	f.Add(oleWith("WordDocument"), 11)
	f.Add([]byte("手机信号差 <a href=x>"), 1)
	f.Fuzz(func(t *testing.T, content []byte, size int) {
		size = max(1, size%600)
		want := DetectType(content)
		var s sniffer
		for b := range slices.Chunk(content, size) {
			s.Write(b)
		}
		if got := s.Type(); got != want {
			t.Fatalf("in %d-byte writes %q, whole %q", size, got, want)
		}
		lower := strings.ToLower(string(content))
		if want == "text/plain" && (strings.Contains(lower, "<svg") || strings.Contains(lower, "<script")) {
			t.Fatalf("markup typed text/plain: %q", content)
		}
	})
}

// TestPutOnAFullDisk: a file that does not fit is an error naming the
// cause, leaves no temporary file behind and does not disturb the files
// stored before; once there is space the same file is stored.
func TestPutOnAFullDisk(t *testing.T) {
	dir := smallfs.Mount(t, 256<<10)
	s, err := Open(filepath.Join(dir, "attachments"))
	if err != nil {
		t.Fatal(err)
	}
	photo := append(append([]byte{}, pngHead...), bytes.Repeat([]byte{3}, 40<<10)...)
	kept, err := s.Put(bytes.NewReader(photo), "现场照片.png", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	free := smallfs.Fill(t, dir)
	second := append(append([]byte{}, pngHead...), bytes.Repeat([]byte{4}, 40<<10)...)
	if _, err := s.Put(bytes.NewReader(second), "发票.png", 1<<20); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk: %v, want ENOSPC", err)
	}
	if files := storedFiles(t, filepath.Join(dir, "attachments")); len(files) != 1 {
		t.Errorf("files after the failed Put: %v, want the first only", files)
	}
	r, err := s.Open(kept.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, photo) {
		t.Errorf("the file stored before reads %d bytes (%v), want it whole", len(got), err)
	}
	free()
	if _, err := s.Put(bytes.NewReader(second), "发票.png", 1<<20); err != nil {
		t.Errorf("Put after freeing the disk: %v", err)
	}
}

func TestDelete(t *testing.T) {
	s, dir := openStore(t)
	a, err := s.Put(bytes.NewReader(append(pngHead, "张三的身份证正面"...)), "身份证.png", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sum     string
		deleted bool
		err     error
	}{
		{"stored", a.SHA256, true, nil},
		{"gone already", a.SHA256, false, nil},
		{"upper case of a gone one", strings.ToUpper(a.SHA256), false, nil},
		{"not a sum", "../" + a.SHA256[3:], false, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deleted, err := s.Delete(tt.sum)
			if deleted != tt.deleted || !errors.Is(err, tt.err) {
				t.Errorf("Delete = %v, %v; want %v, %v", deleted, err, tt.deleted, tt.err)
			}
		})
	}
	if files := storedFiles(t, dir); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if _, err := s.Open(a.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: %v", err)
	}
}
