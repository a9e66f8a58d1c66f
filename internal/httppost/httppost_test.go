package httppost

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestAnswerClass(t *testing.T) {
	tests := []struct {
		status        int
		ok, temporary bool
	}{
		{200, true, false}, {204, true, false}, {299, true, false},
		{301, false, false}, {307, false, false}, {400, false, false}, {401, false, false}, {404, false, false}, {422, false, false},
		{408, false, true}, {429, false, true}, {500, false, true}, {503, false, true}, {504, false, true},
	}
	for _, tt := range tests {
		a := Answer{StatusCode: tt.status}
		if a.OK() != tt.ok || a.Temporary() != tt.temporary {
			t.Errorf("%d: OK %v, Temporary %v; want %v, %v", tt.status, a.OK(), a.Temporary(), tt.ok, tt.temporary)
		}
	}
}

func TestPost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("X-Case") != "TS20260305-0042" || string(b) != `{"工单":"TS20260305-0042"}` {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("redirect") != "" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		io.WriteString(w, strings.Repeat("已受理", 1000))
	}))
	defer srv.Close()
	h := http.Header{"X-Case": {"TS20260305-0042"}}
	body := []byte(`{"工单":"TS20260305-0042"}`)
	a, err := Post(context.Background(), NewClient(), srv.URL+"/hook?key=TOKEN-88", h, body, 64)
	if err != nil || !a.OK() || len(a.Body) != 64 {
		t.Fatalf("Post = %d %q, %v; want 200 with 64 bytes", a.StatusCode, a.Body, err)
	}
	a, err = Post(context.Background(), NewClient(), srv.URL+"/hook?redirect=1", h, body, 64)
	if err != nil || a.StatusCode != http.StatusFound {
		t.Fatalf("redirect: %d, %v; want 302 not followed", a.StatusCode, err)
	}

	srv.Close()
	_, err = Post(context.Background(), NewClient(), srv.URL+"/hook?key=TOKEN-88", h, body, 64)
	if err == nil || strings.Contains(err.Error(), "TOKEN-88") || strings.Contains(err.Error(), strconv.Quote(srv.URL)) {
		t.Fatalf("unreachable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Post(ctx, NewClient(), srv.URL+"/hook?key=TOKEN-88", h, body, 64); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "TOKEN-88") {
		t.Fatalf("canceled: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://oapi.dingtalk.com/robot/send?access_token=TOKEN-88", ""},
		{"http://10.0.0.5:8080/sms", ""},
		{"ftp://example.com/x?key=TOKEN-88", "the scheme must be http or https"},
		{"/relay", "the scheme must be http or https"},
		{"https:///relay", "the URL has no host"},
		{"https://exa mple.com/%zz?key=TOKEN-88", "not a valid URL"},
	}
	for _, tt := range tests {
		got := ""
		if err := CheckURL(tt.url); err != nil {
			got = err.Error()
		}
		if got != tt.want || strings.Contains(got, "TOKEN") {
			t.Errorf("CheckURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
