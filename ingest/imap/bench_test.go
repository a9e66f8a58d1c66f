package imap

import (
	"fmt"
	"strings"
	"testing"
)

// pathological are messages built to find super-linear behaviour.
func pathological() map[string][]byte {
	var nested strings.Builder
	for i := range 20 {
		fmt.Fprintf(&nested, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	for i := range 600 {
		fmt.Fprintf(&nested, "--b20\r\nContent-Type: text/html\r\n\r\n<p>part %d</p>\r\n", i)
	}
	return map[string][]byte{
		"breaks then paragraphs": msg([]string{"From: a@example.com", "Content-Type: text/html"},
			strings.Repeat("<br>", 200000)+strings.Repeat("<p>", 200000)),
		"many encoded names": msg([]string{"From: a@example.com",
			"To: " + strings.Repeat(`"=?utf-8?B?5byg5LiJ?=" <z@example.com>, `, 20000)}, "x"),
		"many encoded words": msg([]string{"From: a@example.com",
			"Subject: " + strings.Repeat("=?utf-8?B?5oqV?= ", 50000)}, "x"),
		"deep and wide multipart": msg([]string{"From: a@example.com", "Content-Type: multipart/mixed; boundary=b0"}, nested.String()),
		"broken base64": msg([]string{"From: a@example.com", "Content-Type: text/plain", "Content-Transfer-Encoding: base64"},
			strings.Repeat("5oqV6K+J5oqV6K+J5oqV6K+J5oqV6K+J!5oqV6K+J5oqV6K+J5oqV6K+J5oqV6K+J5oqV6K+J5oqV\r\n", 100000)),
	}
}

func BenchmarkParseMessage(b *testing.B) {
	for name, raw := range pathological() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				ParseMessage(raw, ParseOptions{})
			}
		})
	}
}
