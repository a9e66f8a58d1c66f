package imap

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestReadHeaderLenient(t *testing.T) {
	gbkName := enc(t, simplifiedchinese.GBK, "备注")
	tests := []struct {
		name    string
		in      string
		fields  map[string]string // values that must be read
		body    string
		warn    []string // fragments, one warning each, in order
		noField bool
	}{
		{name: "clean", in: "From: a@example.com\r\nSubject: 断网\r\n\r\n正文",
			fields: map[string]string{"From": "a@example.com", "Subject": "断网"}, body: "正文"},
		{name: "name with a tab and a space", in: "From: a@example.com\nX-Script/function/\t !\"#$%: TEST\nSubject: 断网\n\n正文\n",
			fields: map[string]string{"Subject": "断网"}, body: "正文\n", warn: []string{"第 2 行不是合法的字段，已跳过：X-Script/function/"}},
		{name: "bad field with its continuation", in: "Bad Name: x\n\tmore of it\nSubject: s\n\nb",
			fields: map[string]string{"Subject": "s"}, body: "b", warn: []string{"第 1 行不是合法的字段"}},
		{name: "8-bit name", in: "From: a@example.com\n" + gbkName + ": 手机\nSubject: s\n\nb",
			fields: map[string]string{"From": "a@example.com", "Subject": "s"}, body: "b", warn: []string{"第 2 行不是合法的字段，已跳过：备注: "}},
		{name: "line without a colon among fields", in: "From: a@example.com\nX-Mailer Foxmail\nSubject: s\n\nb",
			fields: map[string]string{"Subject": "s"}, body: "b", warn: []string{"第 2 行不是合法的字段，已跳过：X-Mailer Foxmail"}},
		{name: "continuation first", in: "\tby relay; Tue, 1 Dec 2026\nFrom: a@example.com\n\nb",
			fields: map[string]string{"From": "a@example.com"}, body: "b", warn: []string{"第 1 行是没有字段可接续的续行"}},
		{name: "folded value kept", in: "Subject: 宽带\r\n 断网\r\n\r\nb",
			fields: map[string]string{"Subject": "宽带 断网"}, body: "b"},
		{name: "space before the colon", in: "Subject : s\n\nb", fields: map[string]string{"Subject": "s"}, body: "b"},
		{name: "no empty line before the body", in: "From: a@example.com\nSubject: s\n您好，快递丢了。\n第二行\n",
			fields: map[string]string{"Subject": "s"}, body: "您好，快递丢了。\n第二行\n", warn: []string{"缺少与正文之间的空行，第 3 行起按正文读取"}},
		{name: "NUL in a value", in: "Subject: 电\x00梯\n\nb", fields: map[string]string{"Subject": "电梯"}, body: "b",
			warn: []string{"含有 NUL 字节"}},
		{name: "over-long field", in: "Subject: s\nReferences: " + strings.Repeat("<a@b> ", 20000) + "\n\nb",
			fields: map[string]string{"Subject": "s"}, body: "b", warn: []string{"有字段超过 65536 字节，已截断"}},
		{name: "many bad lines", in: strings.Repeat("bad line\n", 8) + "Subject: s\n\nb",
			fields: map[string]string{"Subject": "s"}, body: "b",
			warn: []string{"第 1 行", "第 2 行", "第 3 行", "第 4 行", "第 5 行", "另有 3 行不是合法的字段"}},
		{name: "no header at all", in: "just text\nmore text\n", body: "just text\nmore text\n", noField: true,
			warn: []string{"缺少与正文之间的空行，第 1 行起"}},
		{name: "empty", in: "", noField: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, warnings := readHeader([]byte(tt.in), "邮件头：")
			if tt.noField != (h.Len() == 0) {
				t.Errorf("%d fields read", h.Len())
			}
			for k, v := range tt.fields {
				if got := strings.Join(strings.Fields(h.Get(k)), " "); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if len(warnings) != len(tt.warn) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.warn))
			}
			for i, w := range tt.warn {
				if !strings.HasPrefix(warnings[i], "邮件头：") || !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d = %q, want one with %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		name, body, boundary string
		parts                []string
		closed, found        bool
	}{
		{name: "clean", body: "preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b \r\n\r\ntwo\r\n--b--\r\nepilogue", boundary: "b",
			parts: []string{"A: 1\r\n\r\none", "\r\ntwo"}, closed: true, found: true},
		{name: "no closing line", body: "--b\n\none\n--b\n\ntwo, cut sho", boundary: "b",
			parts: []string{"\none", "\ntwo, cut sho"}, found: true},
		{name: "boundary only inside a line", body: "x --b\n--bb\ntext", boundary: "b"},
		{name: "empty part", body: "--b\n--b--\n", boundary: "b", parts: []string{""}, closed: true, found: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, closed, found := splitMultipart([]byte(tt.body), tt.boundary)
			var got []string
			for _, p := range parts {
				got = append(got, string(p))
			}
			if strings.Join(got, "|") != strings.Join(tt.parts, "|") || len(got) != len(tt.parts) || closed != tt.closed || found != tt.found {
				t.Errorf("parts %q closed %v found %v; want %q %v %v", got, closed, found, tt.parts, tt.closed, tt.found)
			}
		})
	}
}

func TestSplitMultipartBounded(t *testing.T) {
	body := strings.Repeat("--b\n\n投诉\n", maxParts+50)
	parts, closed, found := splitMultipart([]byte(body), "b")
	if len(parts) != maxParts || !closed || !found {
		t.Errorf("%d parts, closed %v, found %v; want %d, the rest not read", len(parts), closed, found, maxParts)
	}
}

func TestGuessBoundary(t *testing.T) {
	tests := []struct{ body, want string }{
		{"--b7c1\nContent-Type: text/plain\n\nx\n--b7c1--\n", "b7c1"},
		{"text\n------=_Part_9\n\nx\n------=_Part_9\n\ny\n", "----=_Part_9"},
		{"-- \nSent from my iPhone\n", ""},            // a signature separator
		{"--only once\n\ntext\n", ""},                 // never again
		{"--a\n\n--x\n--ab\n--x--\n", "x"},            // --a never recurs as a line
		{strings.Repeat("--n\n", 1) + "\n--n--", "n"}, // the closing line counts
	}
	for _, tt := range tests {
		if got := guessBoundary([]byte(tt.body)); got != tt.want {
			t.Errorf("guessBoundary(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestLenientQP(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"=E6=8A=95=E8=AF=89\r\n", "投诉\n", true},
		{"=e6=8a=95=\r\n=e8=af=89", "投诉", true},       // lower-case hex, soft break
		{"=E6=8A=95= \r\n=E8=AF=89", "投诉", true},      // white space after the soft break
		{"=E6=8A=95=\r\r\n=E8=AF=89", "投诉", true},     // a doubled CR
		{"trailing   \nnext", "trailing\nnext", true}, // trailing white space dropped
		{"a=ZZb=4", "a=ZZb=4", false},
		{"=", "", true},
	}
	for _, tt := range tests {
		got, ok := lenientQP([]byte(tt.in))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("lenientQP(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeCharsetLyingLabels(t *testing.T) {
	gbk := func(s string) []byte { return []byte(enc(t, simplifiedchinese.GBK, s)) }
	tests := []struct {
		name, label string
		in          []byte
		want        string
		ok          bool
	}{
		{"utf-8 on GBK", "utf-8", gbk("燃气表走字快"), "燃气表走字快", false},
		{"utf-8 with one stray byte", "utf-8", []byte("电梯困人\xff二十分钟"), "电梯困人\uFFFD二十分钟", false},
		{"iso-8859-1 on GBK", "iso-8859-1", gbk("空调不制冷"), "空调不制冷", false},
		{"iso-8859-1 on Western text", "iso-8859-1", []byte("caf\xe9 cr\xe8me br\xfbl\xe9e"), "café crème brûlée", true},
		{"iso-8859-1 on UTF-8", "iso-8859-1", []byte("房号 1208"), "房号 1208", false},
		{"gb2312 on GBK-only characters", "gb2312", gbk("朱镕基"), "朱镕基", true},
	}
	for _, tt := range tests {
		got, ok := decodeCharset(tt.label, tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
