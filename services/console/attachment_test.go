package console

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
)

// TestAttachmentDownload: the case page links each attached file, which
// downloads as an attachment with the type the store detected, never
// sniffed, named as the page names it (the phone number in the name
// masked for an agent); another department's agent, a file not attached
// to the case and a file that was not stored get 404.
func TestAttachmentDownload(t *testing.T) {
	photo := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 64)...)
	ps := newPagesServer(t)
	stored, err := ps.files.Put(bytes.NewReader(photo), "话费账单截图-13912340003.png", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := ps.files.Put(strings.NewReader("别的工单的附件：宽带报修单 2026年3月1日"), "报修单.txt", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// An HTML file the mail carried: recorded on the case, never stored.
	refused := ingest.Attachment{Name: "账单.html", Type: "text/html", Size: 120, SHA256: strings.Repeat("ab", 32)}
	c := complaint(t, "TS-C", "+8613912340003", "这个月话费多扣了58块钱，截图在附件里", time.Date(2026, 3, 4, 9, 0, 0, 0, cst), func(c *router.Case) {
		c.Route.Department = "客户服务中心"
		c.Attachments = []ingest.Attachment{stored, refused}
	})
	if err := ps.index.Upsert(t.Context(), []router.Case{c}); err != nil {
		t.Fatal(err)
	}
	link := "/console/cases/TS-C/attachments/" + stored.SHA256
	if _, page := ps.get(t, "甲", "/console/cases/TS-C"); !strings.Contains(page, `href="`+link+`"`) {
		t.Errorf("the case page does not link %s", link)
	}
	tests := []struct {
		name, who, path string
		code            int
		filename        string
	}{
		{"an agent of the case's department", "甲", link, http.StatusOK, "话费账单截图-139****0003.png"},
		{"a supervisor", "王", link, http.StatusOK, "话费账单截图-13912340003.png"},
		{"the sum in capitals", "甲", strings.ToUpper(link), http.StatusOK, "话费账单截图-139****0003.png"},
		{"another department's agent", "乙", link, http.StatusNotFound, ""},
		{"a file of another case", "王", "/console/cases/TS-C/attachments/" + elsewhere.SHA256, http.StatusNotFound, ""},
		{"a file that was not stored", "王", "/console/cases/TS-C/attachments/" + refused.SHA256, http.StatusNotFound, ""},
		{"no such case", "王", "/console/cases/TS-Z/attachments/" + stored.SHA256, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("X-Test-User", tt.who)
			resp, err := ps.app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%d, want %d: %.300s", resp.StatusCode, tt.code, body)
			}
			if tt.code != http.StatusOK {
				if bytes.Equal(body, photo) {
					t.Error("the file was sent")
				}
				return
			}
			disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			if err != nil || disp != "attachment" || params["filename"] != tt.filename {
				t.Errorf("Content-Disposition %q (%v), want an attachment named %s", resp.Header.Get("Content-Disposition"), err, tt.filename)
			}
			if got := resp.Header.Get("Content-Type"); got != "image/png" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("Content-Type %q, X-Content-Type-Options %q; want image/png, nosniff", got, resp.Header.Get("X-Content-Type-Options"))
			}
			if !bytes.Equal(body, photo) {
				t.Errorf("sent %d bytes, want the stored %d", len(body), len(photo))
			}
		})
	}
}
