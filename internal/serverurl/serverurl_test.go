package serverurl

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, url string
		want      URL
		err       string
	}{
		{name: "imap with a folder", url: "imap://support%40example.com:Tc%232026spring@127.0.0.1:1143/%E6%8A%95%E8%AF%89?tls=none&poll=2s",
			want: URL{Scheme: "imap", Host: "127.0.0.1", Port: 1143, User: "support@example.com", Password: "Tc#2026spring", Path: "投诉"}},
		{name: "smtp without auth", url: "smtp://127.0.0.1:10025?tls=none", want: URL{Scheme: "smtp", Host: "127.0.0.1", Port: 10025}},
		{name: "ipv6", url: "smtps://[::1]", want: URL{Scheme: "smtps", Host: "::1"}},
		{name: "user without password", url: "smtp://complaints@smtp.163.com", want: URL{Scheme: "smtp", Host: "smtp.163.com", User: "complaints"}},
		{name: "another scheme", url: "http://smtp.163.com", err: `scheme "http" is not imap or smtp or smtps`},
		{name: "bad port", url: "smtp://a:Tc%232026spring@smtp.163.com:smtp", err: "not a valid URL"},
		{name: "broken with a password", url: "smtp://a:Tc#2026spring@smtp.163.com:5%87", err: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.url, "imap", "smtp", "smtps")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Parse = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Query = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
	u, _ := Parse("smtp://h?tls=none&from=x&packs=a,b&timeout=3s", "smtp")
	if k := strings.Join(u.Keys(), ","); k != "from,packs,timeout,tls" {
		t.Errorf("Keys = %s", k)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1": true, "127.0.0.53": true, "::1": true, "[::1]": true, "localhost": true, "LOCALHOST.": true,
		"mx.localhost": true, "192.168.1.10": false, "smtp.163.com": false, "127.0.0.1.nip.io": false, "localhost.example.com": false, "": false,
	}
	for host, want := range tests {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestCheckServer(t *testing.T) {
	for _, tt := range []struct {
		name, host string
		port       int
		want       []string
	}{
		{"main", "smtp.exmail.qq.com", 465, nil},
		{"support_2", "127.0.0.1", 0, nil},
		{"Support", "imap.163.com", 993, []string{`name: "Support" must be 1 to 64`}},
		{"", " ", 70000, []string{"name: ", "host: required", "port: 70000 is not a TCP port"}},
		{"客服邮箱", "imap.163.com", -1, []string{`name: "客服邮箱"`, "port: -1"}},
	} {
		errs := CheckServer(tt.name, tt.host, tt.port)
		if len(errs) != len(tt.want) {
			t.Fatalf("CheckServer(%q, %q, %d) = %v, want %d errors", tt.name, tt.host, tt.port, errs, len(tt.want))
		}
		for i, w := range tt.want {
			if !strings.HasPrefix(errs[i].Error(), w) {
				t.Errorf("CheckServer(%q, %q, %d)[%d] = %v, want it to start with %q", tt.name, tt.host, tt.port, i, errs[i], w)
			}
		}
	}
}
