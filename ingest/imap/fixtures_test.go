package imap

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// The fixture messages of the tests, written by hand. Legacy charsets are
// produced with golang.org/x/text encoders so the bytes are exactly what a
// GBK or Big5 mailer sends.

func enc(t testing.TB, e encoding.Encoding, s string) string {
	t.Helper()
	b, err := e.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// b64Lines base64-encodes s in 76-character lines, as mailers do.
func b64Lines(s string) string {
	e := b64(s)
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\r\n")
		e = e[76:]
	}
	b.WriteString(e)
	return b.String()
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// word is an RFC 2047 B encoded-word of s in charset label (s is already in
// that charset's bytes).
func word(label, s string) string { return "=?" + label + "?B?" + b64(s) + "?=" }

// msg joins header lines and a body with CRLF.
func msg(headers []string, body string) []byte {
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	return []byte(strings.Join(headers, "\r\n") + "\r\n\r\n" + body)
}

// fixture is one test message and what ParseMessage must make of it.
type fixture struct {
	name string
	raw  []byte
	// Expectations; empty fields are not checked.
	subject      string
	fromName     string
	fromEmail    string
	textHas      []string
	textHasNot   []string
	htmlHas      []string
	htmlHasNot   []string
	attachments  int
	auto         bool
	unparseable  bool
	invalid      bool // parses, but cannot become an envelope
	warning      bool
	reference    string
	inReplyTo    string
	contactEmail string // Envelope.Email when it differs from fromEmail
}

const (
	// 朱镕基: 镕 is in GBK but not in GB2312; 㐀 (U+3400) needs GB18030's
	// four-byte form. Senders label such text "gb2312".
	gbkOnly     = "您好，朱镕基路的营业厅服务态度差"
	gb18030Only = "扩展字符㐀测试"
)

func fixtures(t testing.TB) []fixture {
	gbk := func(s string) string { return enc(t, simplifiedchinese.GBK, s) }
	gb18030 := func(s string) string { return enc(t, simplifiedchinese.GB18030, s) }
	big5 := func(s string) string { return enc(t, traditionalchinese.Big5, s) }

	longBody := strings.Repeat("宽带断网三天没人处理。", 1000) // 33 000 bytes

	return []fixture{
		{
			name: "plain utf-8",
			raw: msg([]string{
				"From: =?UTF-8?B?" + b64("张三") + "?= <zhangsan@example.com>",
				"To: support@tousu.example.com",
				"Subject: =?utf-8?q?=E5=AE=BD=E5=B8=A6=E6=95=85=E9=9A=9C?=",
				"Message-ID: <plain-1@example.com>",
				"Date: Mon, 02 Jan 2006 15:04:05 +0800",
				"MIME-Version: 1.0",
				"Content-Type: text/plain; charset=utf-8",
				"Content-Transfer-Encoding: 8bit",
			}, "你好，我家宽带从昨天开始断网，请尽快处理。\n电话 13800138000"),
			subject: "宽带故障", fromName: "张三", fromEmail: "zhangsan@example.com",
			textHas: []string{"我家宽带从昨天开始断网", "13800138000"},
		},
		{
			name: "RFC 2047 mixed charsets and casing",
			raw: msg([]string{
				"From: " + word("GBK", gbk("李四")) + " <lisi@example.cn>",
				"Subject: " + word("gb2312", gbk("投诉：")) + " " + word("UTF-8", "话费") + "\r\n " +
					"=?Big5?b?" + b64(big5("異常")) + "?= (urgent) =?ISO-8859-1?Q?caf=E9?=",
				"Message-ID: <mixed@example.cn>",
				"Content-Type: text/plain; charset=UTF-8",
			}, "话费多扣了 50 元。"),
			subject: "投诉：话费異常 (urgent) café", fromName: "李四", fromEmail: "lisi@example.cn",
			textHas: []string{"话费多扣了 50 元"},
		},
		{
			name: "encoded-word split inside a character",
			raw: msg([]string{
				"From: wang@example.com",
				// "投诉" in UTF-8 is 6 bytes; split after byte 4.
				"Subject: =?UTF-8?B?" + b64("投诉"[:4]) + "?= =?UTF-8?B?" + b64("投诉"[4:]) + "?=",
				"Content-Type: text/plain",
			}, "body"),
			subject: "投诉", fromEmail: "wang@example.com",
		},
		{
			name: "gb2312 label on GBK and GB18030 text",
			raw: msg([]string{
				"From: \"" + word("gb2312", gbk("王五")) + "\" <wangwu@example.com>",
				"Subject: " + word("GB2312", gbk("朱镕基路营业厅")),
				"Content-Type: text/plain; charset=\"gb2312\"",
				"Content-Transfer-Encoding: 8bit",
			}, gb18030(gbkOnly+"\n"+gb18030Only)),
			subject: "朱镕基路营业厅", fromName: "王五", fromEmail: "wangwu@example.com",
			textHas: []string{gbkOnly, gb18030Only},
		},
		{
			name: "GBK base64",
			raw: msg([]string{
				"From: zhao@example.com",
				"Subject: gbk",
				"Content-Type: text/plain; charset=GBK",
				"Content-Transfer-Encoding: base64",
			}, b64Lines(gbk("快递丢件，要求赔偿。"+strings.Repeat("详情见附件。", 20)))),
			fromEmail: "zhao@example.com",
			textHas:   []string{"快递丢件，要求赔偿。", "详情见附件。详情见附件。"},
		},
		{
			name: "GB18030 quoted-printable",
			raw: msg([]string{
				"From: qian@example.com",
				"Subject: gb18030",
				"Content-Type: text/plain; charset=gb18030",
				"Content-Transfer-Encoding: quoted-printable",
			}, qp(gb18030("物业费乱收费"+gb18030Only))),
			textHas: []string{"物业费乱收费" + gb18030Only},
		},
		{
			name: "Big5",
			raw: msg([]string{
				"From: " + word("big5", big5("陳先生")) + " <chen@example.com.tw>",
				"Subject: " + word("BIG5", big5("投訴飯店")),
				"Content-Type: text/plain; charset=big5",
				"Content-Transfer-Encoding: base64",
			}, b64Lines(big5("您好，我要投訴飯店的服務。"))),
			subject: "投訴飯店", fromName: "陳先生", fromEmail: "chen@example.com.tw",
			textHas: []string{"我要投訴飯店的服務"},
		},
		{
			name: "Shift_JIS and EUC-KR",
			raw: msg([]string{
				"From: " + word("shift_jis", enc(t, japanese.ShiftJIS, "山田")) + " <yamada@example.jp>",
				"Subject: " + word("EUC-KR", enc(t, korean.EUCKR, "불만")),
				"Content-Type: text/plain; charset=Shift_JIS",
			}, enc(t, japanese.ShiftJIS, "ホテルの苦情です。")),
			subject: "불만", fromName: "山田", textHas: []string{"ホテルの苦情です。"},
		},
		{
			name: "ISO-2022-JP",
			raw: msg([]string{
				"From: suzuki@example.jp",
				"Subject: =?ISO-2022-JP?B?" + b64(enc(t, japanese.ISO2022JP, "苦情")) + "?=",
				"Content-Type: text/plain; charset=iso-2022-jp",
				"Content-Transfer-Encoding: 7bit",
			}, enc(t, japanese.ISO2022JP, "部屋が汚い。")),
			subject: "苦情", textHas: []string{"部屋が汚い。"},
		},
		{
			name: "broken base64",
			raw: msg([]string{
				"From: sun@example.com",
				"Subject: broken",
				"Content-Type: text/plain; charset=utf-8",
				"Content-Transfer-Encoding: base64",
			}, b64("第一段内容完整。")+"\n!!**garbage**\n"+strings.TrimRight(b64("第二段也能解出来。"), "=")),
			textHas: []string{"第一段内容完整。", "第二段也能解出来。"},
			warning: true,
		},
		{
			name: "unknown charset",
			raw: msg([]string{
				"From: zhou@example.com",
				"Subject: charset",
				"Content-Type: text/plain; charset=x-no-such-charset",
			}, gbk("未知字符集按 GB18030 猜测")),
			textHas: []string{"未知字符集按 GB18030 猜测"},
			warning: true,
		},
		{
			name: "HTML only in GBK",
			raw: msg([]string{
				"From: wu@example.com",
				"Subject: html",
				"Content-Type: text/html; charset=gbk",
				"Content-Transfer-Encoding: quoted-printable",
			}, qp(gbk(`<html><head><title>标题不要</title><style>p{color:red}</style></head>
<body><script>alert('x')</script><p>尊敬的客服：</p><div>空调<b>不制冷</b>，<br>已报修两次。</div>
<ul><li>第一次</li><li>第二次</li></ul><a href="https://evil.example/track">详情</a>
<img src="https://tracker.example/p.gif" alt="照片"></body></html>`))),
			textHas:    []string{"尊敬的客服：", "空调不制冷，\n已报修两次。", "- 第一次", "- 第二次", "详情 (https://evil.example/track)"},
			textHasNot: []string{"标题不要", "alert", "color:red"},
			htmlHas:    []string{"<b>不制冷</b>", `rel="nofollow noreferrer noopener"`},
			htmlHasNot: []string{"<script", "<img", "tracker.example", "<style"},
		},
		{
			name: "HTML with meta charset and no parameter",
			raw: msg([]string{
				"From: meta@example.com",
				"Subject: meta",
				"Content-Type: text/html",
			}, `<html><head><meta charset="gbk"></head><body>`+gbk("元数据声明的编码")+`</body></html>`),
			textHas: []string{"元数据声明的编码"},
		},
		{
			name: "nested multiparts with attachments",
			raw: msg([]string{
				"From: \"Zheng Liu\" <zheng@example.com>",
				"Subject: nested",
				"MIME-Version: 1.0",
				`Content-Type: multipart/mixed; boundary="outer"`,
			}, `preamble
--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`+qp("纯文本版本：电视没有信号。")+`
--alt
Content-Type: text/html; charset=utf-8

<p>HTML 版本：电视<i>没有信号</i>。</p><img src="cid:pic1">
--alt--
--rel
Content-Type: image/png
Content-ID: <pic1>
Content-Disposition: inline
Content-Transfer-Encoding: base64

`+b64Lines(string(pngBytes))+`
--rel--
--outer
Content-Type: application/pdf; name="x.pdf"
Content-Disposition: attachment; filename*=UTF-8''%E6%8A%95%E8%AF%89%E4%B9%A6.pdf
Content-Transfer-Encoding: base64

`+b64Lines(string(pdfBytes))+`
--outer
Content-Type: image/jpeg; name="`+word("GBK", gbk("现场照片"))+`.jpg"
Content-Disposition: attachment
Content-Transfer-Encoding: base64

`+b64Lines(string(jpegBytes))+`
--outer--
epilogue`),
			fromName: "Zheng Liu", textHas: []string{"纯文本版本：电视没有信号。"}, textHasNot: []string{"HTML 版本"},
			htmlHas: []string{"<i>没有信号</i>"}, htmlHasNot: []string{"<img"},
			attachments: 3,
		},
		{
			name: "multipart/alternative, HTML only alternative filled",
			raw: msg([]string{
				"From: feng@example.com",
				"Subject: alt",
				`Content-Type: multipart/alternative; boundary=b1`,
			}, `--b1
Content-Type: text/plain; charset=utf-8

--b1
Content-Type: text/html; charset=utf-8

<p>只有 HTML 有内容</p>
--b1--`),
			textHas: []string{"只有 HTML 有内容"},
		},
		{
			name: "raw 8-bit GBK headers",
			raw: msg([]string{
				"From: " + gbk("陈七") + " <chenqi@example.com>",
				"Subject: " + gbk("未编码的主题"),
				"Content-Type: text/plain; charset=gbk",
			}, gbk("正文")),
			subject: "未编码的主题", fromName: "陈七", fromEmail: "chenqi@example.com", textHas: []string{"正文"},
		},
		{
			name: "reply with reference",
			raw: msg([]string{
				"From: customer@example.com",
				"Subject: Re: 您的投诉已受理【受理编号ts7k3m9qx2ab】",
				"In-Reply-To: <ack-1@tousu.example.com>",
				"References: <orig@example.com>\r\n <ack-1@tousu.example.com>",
				"Message-ID: <reply-1@example.com>",
			}, "还是没有解决。"),
			reference: "TS7K3M9QX2AB", inReplyTo: "ack-1@tousu.example.com",
		},
		{
			name: "Reply-To differs from From",
			raw: msg([]string{
				"From: Web Form <noreply@forms.example.com>",
				"Reply-To: " + word("utf-8", "王五") + " <wangwu@example.com>",
				"Subject: form",
			}, "通过网站表单提交。"),
			fromEmail: "noreply@forms.example.com", contactEmail: "wangwu@example.com",
		},
		{
			name: "long body",
			raw: msg([]string{
				"From: long@example.com",
				"Subject: long",
				"Content-Type: text/plain; charset=utf-8",
			}, longBody),
			textHas: []string{"宽带断网三天没人处理。"},
		},
		{
			name:    "subject only",
			raw:     msg([]string{"From: short@example.com", "Subject: 只有主题"}, ""),
			subject: "只有主题",
		},
		{
			name:      "mbox From line and no trailing newline",
			raw:       []byte("From someone@example.com Mon Jan  2 15:04:05 2006\nFrom: mbox@example.com\nSubject: mbox\n\nbody without newline"),
			fromEmail: "mbox@example.com", textHas: []string{"body without newline"},
		},
		{
			name:      "broken From header",
			raw:       msg([]string{"From: 黄八 <huangba@example.com", "Subject: from"}, "正文"),
			fromEmail: "huangba@example.com", fromName: "黄八",
		},
		{
			name: "auto-reply: Auto-Submitted",
			raw: msg([]string{"From: away@example.com", "Auto-Submitted: auto-replied", "Subject: 自动回复: 投诉"},
				"I am out of office."),
			auto: true,
		},
		{
			name: "auto-reply: Precedence bulk",
			raw:  msg([]string{"From: news@example.com", "Precedence: bulk", "Subject: newsletter"}, "news"),
			auto: true,
		},
		{
			name: "auto-reply: X-Autoreply",
			raw:  msg([]string{"From: qq@example.com", "X-Autoreply: yes", "Subject: 您好"}, "这是来自QQ邮箱的假期自动回复邮件。"),
			auto: true,
		},
		{
			name: "auto-reply: X-Auto-Response-Suppress",
			raw: msg([]string{"From: exchange@example.com", "X-Auto-Response-Suppress: All",
				"Subject: Automatic reply: complaint"}, "OOF"),
			auto: true,
		},
		{
			name: "bounce: multipart/report",
			raw: msg([]string{
				"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>",
				"Subject: Undelivered Mail Returned to Sender",
				`Content-Type: multipart/report; report-type=delivery-status; boundary="r"`,
			}, "--r\nContent-Type: text/plain\n\nDelivery failed.\n--r\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\n--r--"),
			auto: true, attachments: 1,
		},
		{
			name: "our own address",
			raw:  msg([]string{"From: Support <Support@Tousu.Example.com>", "Subject: 回复：您的投诉"}, "我们已收到。"),
			auto: true,
		},
		{
			name:        "unparseable: no header",
			raw:         []byte("this is not an e-mail at all\r\n\x00\x01\x02 binary junk\r\n"),
			unparseable: true,
		},
		{
			name:        "unparseable: leading whitespace",
			raw:         []byte("  folded: nothing\r\n\r\nbody"),
			unparseable: true,
		},
		{
			name:    "no sender",
			raw:     msg([]string{"Subject: 匿名", "To: support@tousu.example.com"}, "没有发件人"),
			invalid: true,
		},
		{
			name:    "sender without a domain dot",
			raw:     msg([]string{"From: root@localhost", "Subject: local"}, "本地"),
			invalid: true,
		},
		{
			name:    "empty mail",
			raw:     msg([]string{"From: empty@example.com"}, ""),
			invalid: true,
		},
	}
}

// Tiny but real file signatures, so the attachment store's type detection
// accepts them.
var (
	pngBytes  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)
	pdfBytes  = append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("% filler\n"), 20)...)
	jpegBytes = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{9}, 64)...)
	zipBytes  = append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 64)...)
)

// attachmentMail is a mail with one attachment of the given content.
func attachmentMail(from, name, ctype string, data []byte) []byte {
	return msg([]string{
		"From: " + from,
		"Subject: attachment " + name,
		`Content-Type: multipart/mixed; boundary="a"`,
	}, fmt.Sprintf("--a\nContent-Type: text/plain; charset=utf-8\n\n见附件。\n--a\nContent-Type: %s\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n%s\n--a--", ctype, name, b64Lines(string(data))))
}
