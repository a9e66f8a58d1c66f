package imap

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	htmlcharset "golang.org/x/net/html/charset"

	"github.com/tousu/tousu/ingest"
)

// Limits that keep a hostile message from costing unbounded work.
const (
	maxDepth = 16  // nesting of multiparts
	maxParts = 500 // MIME parts per message
	// Address headers are read up to maxAddressHeader bytes and
	// maxAddresses addresses.
	maxAddressHeader = 16 << 10
	maxAddresses     = 100
	// MaxHTMLBytes bounds the sanitised HTML kept in Extra["html"]; larger
	// HTML is left out (Extra["html_omitted"] says so), the text remains.
	MaxHTMLBytes = 64 << 10
)

// Address is a name and an e-mail address, both decoded to UTF-8.
type Address struct {
	Name  string
	Email string
}

// Part is a MIME part that is not the message text: an attachment, an
// inline image, an attached message.
type Part struct {
	// Name is the file name as sent (decoded, not yet sanitised); empty if
	// the sender gave none.
	Name string
	// ContentType is the declared media type without parameters.
	ContentType string
	ContentID   string
	Inline      bool
	// Data is the decoded content.
	Data []byte
}

// Parsed is what ParseMessage reads from a message. Every string is valid
// UTF-8.
type Parsed struct {
	// MessageID, InReplyTo and References are message ids without angle
	// brackets.
	MessageID  string
	InReplyTo  []string
	References []string
	Subject    string
	From       Address
	ReplyTo    Address // zero if the message has no Reply-To
	To         []Address
	Date       time.Time // the Date header; zero if absent or unreadable
	// Text is the message text: the text/plain body, or the text of the
	// HTML body when there is no plain one. Line endings are \n.
	Text string
	// TextFromHTML is true when Text was rendered from HTML.
	TextFromHTML bool
	// HTML is the HTML body sanitised for display, or empty.
	HTML        string
	Attachments []Part
	// Auto is empty for mail written by a person, else why it is an
	// automatic message (auto-reply, bounce, bulk mail, our own mail).
	Auto string
	// ReplyToReference is a tousu reference number (ingest.References)
	// found in the subject, upper-cased, or empty.
	ReplyToReference string
	// Warnings say, in Chinese, what could not be read cleanly and was
	// skipped or guessed (a malformed header line, a missing boundary, a
	// broken base64 part, a charset label that lies); the rest of the
	// message is still used. At most ingest.MaxWarnings.
	Warnings []string
}

// ParseOptions tune ParseMessage.
type ParseOptions struct {
	// OurAddresses are our own sender addresses (or "@domain"): mail from
	// them is marked Auto.
	OurAddresses []string
	// AcceptListMail treats "Precedence: list" mail as a person's mail
	// (MailboxConfig.AcceptListMail); see autoReason.
	AcceptListMail bool
}

// ErrUnparseable is wrapped by ParseMessage when a message cannot be read
// at all: it is empty or not one header field can be read.
var ErrUnparseable = errors.New("unparseable message")

// ParseMessage reads a raw RFC 5322 message. It is pure (no I/O) and safe
// for concurrent use. It decodes RFC 2047 headers in any charset
// golang.org/x/text knows (GB2312 and GBK labels as GB18030), bodies in
// quoted-printable and base64 (broken base64 decoded as far as it goes),
// nested multiparts, HTML-only bodies to text, and collects attachments.
// It reads the header leniently (readHeader) and fails, with an error
// wrapping ErrUnparseable, only when not one header field can be read;
// what it skipped or guessed becomes Warnings.
func ParseMessage(raw []byte, opts ParseOptions) (Parsed, error) {
	var p Parsed
	body := raw
	if len(bytes.TrimSpace(body)) == 0 {
		return p, fmt.Errorf("%w: empty message", ErrUnparseable)
	}
	// An mbox "From " separator line is not part of the message.
	if bytes.HasPrefix(body, []byte("From ")) {
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			body = body[i+1:]
		}
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		// A final line without its newline would be lost (header) or not
		// recognised (closing boundary); add one. Always a bare LF: the
		// readers take either ending, and an ending chosen from elsewhere
		// in the message would reach a stateful decoder (ISO-2022-JP cut
		// mid-character) as different bytes, so one header line more or
		// less would change the decoded text.
		body = append(body[:len(body):len(body)], '\n')
	}
	h, rest, warnings := readHeader(body, "邮件头：")
	if h.Len() == 0 {
		return p, fmt.Errorf("%w: no header fields", ErrUnparseable)
	}
	w := walker{p: &p}
	for _, wn := range warnings {
		w.warn("%s", wn)
	}
	_, ctParams := contentType(h)
	fallback := ctParams["charset"] // for raw 8-bit header bytes
	w.fallback = fallback

	p.Subject = cleanLine(w.header("主题", decodeHeaderChecked, h.Get("Subject")))
	p.From = firstAddress(w.header("发件人", checkHeader, h.Get("From")), fallback)
	p.ReplyTo = firstAddress(w.header("回复地址", checkHeader, h.Get("Reply-To")), fallback)
	p.To = addressList(h.Get("To"), fallback)
	p.MessageID = first(msgIDs(h.Get("Message-Id")))
	p.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	p.References = msgIDs(h.Get("References"))
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		p.Date = d
	}

	text, htmlBody := w.walk(h, rest, 0, "")
	p.Text = ingest.TidyText(text)
	if htmlBody != "" {
		if p.Text == "" {
			p.Text = ingest.HTMLToText(htmlBody)
			p.TextFromHTML = true
		}
		p.HTML = sanitizeHTML(htmlBody)
	}
	if p.Text == "" && w.forwarded != "" {
		// Only a forwarded message: its text is the complaint.
		p.Text = ingest.TidyText(w.forwarded)
	}
	p.Auto = autoReason(h, p.From, p.ReplyTo, p.Subject, opts)
	p.ReplyToReference = findReference(p.Subject)
	return p, nil
}

// walker walks the MIME tree of one message.
type walker struct {
	p        *Parsed
	fallback string
	parts    int
	// forwarded is the text of the first attached message (message/rfc822).
	forwarded string
}

func (w *walker) warn(format string, args ...any) {
	if len(w.p.Warnings) < ingest.MaxWarnings {
		w.p.Warnings = append(w.p.Warnings, fmt.Sprintf(format, args...))
	}
}

// header decodes the value of a header field with decode and warns, under
// the field's Chinese name, when that was a guess: unencoded 8-bit bytes
// that do not fit the message's charset, an encoded-word in an unknown
// charset or with a broken payload.
func (w *walker) header(name string, decode func(v, fallback string) (string, bool), v string) string {
	s, ok := decode(v, w.fallback)
	if !ok {
		w.warn("%s：编码无法完全识别，已尽量解码", name)
	}
	return s
}

// partName is how warnings name a MIME part: 正文 for the message's own
// body, else its number (1.2 is the second part of the first).
func partName(path string) string {
	if path == "" {
		return "正文"
	}
	return "第 " + path + " 部分"
}

// walk handles one entity (the message or a part) with header h and raw
// body, and returns the text and HTML it contributes to the message body.
// Attachments are appended to w.p.
func (w *walker) walk(h textproto.Header, body []byte, depth int, path string) (text, htmlBody string) {
	w.parts++
	name := partName(path)
	mediaType, params := contentType(h)
	disp, dparams := disposition(h)

	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxDepth {
			w.warn("%s：多部分嵌套超过 %d 层，已忽略", name, maxDepth)
			return "", ""
		}
		boundary := params["boundary"]
		parts, closed, found := splitMultipart(body, boundary)
		if boundary == "" || !found {
			guess := guessBoundary(body)
			if guess == "" {
				w.warn("%s：多部分邮件的分隔线缺失或不符，按纯文本读取", name)
				return w.leaf(h, body, "text/plain", params, disp, dparams, name)
			}
			w.warn("%s：声明的分隔线缺失或不符，已按正文中的分隔线拆分", name)
			parts, closed, _ = splitMultipart(body, guess)
		}
		if !closed {
			w.warn("%s：多部分邮件缺少结束分隔线，已读到结尾", name)
		}
		return w.multipart(mediaType, parts, depth, path)
	}
	return w.leaf(h, body, mediaType, params, disp, dparams, name)
}

func (w *walker) multipart(mediaType string, parts [][]byte, depth int, path string) (text, htmlBody string) {
	type child struct{ text, html string }
	var children []child
	for i, raw := range parts {
		if w.parts >= maxParts {
			w.warn("MIME 部分超过 %d 个，其余已忽略", maxParts)
			break
		}
		sub := strconv.Itoa(i + 1)
		if path != "" {
			sub = path + "." + sub
		}
		h, body, warnings := readHeader(raw, partName(sub)+"的头：")
		for _, wn := range warnings {
			w.warn("%s", wn)
		}
		t, hb := w.walk(h, body, depth+1, sub)
		children = append(children, child{t, hb})
	}
	if mediaType == "multipart/alternative" {
		// Alternatives of the same content: the first plain text and the
		// first HTML, not their sum.
		for _, c := range children {
			if text == "" && strings.TrimSpace(c.text) != "" {
				text = c.text
			}
			if htmlBody == "" && strings.TrimSpace(c.html) != "" {
				htmlBody = c.html
			}
		}
		return text, htmlBody
	}
	var texts, htmls []string
	for _, c := range children {
		switch {
		case strings.TrimSpace(c.text) != "":
			texts = append(texts, c.text)
		case strings.TrimSpace(c.html) != "":
			// An HTML-only piece of a mixed message still carries text.
			texts = append(texts, ingest.HTMLToText(c.html))
		}
		if strings.TrimSpace(c.html) != "" {
			htmls = append(htmls, c.html)
		}
	}
	text = strings.Join(texts, "\n\n")
	htmlBody = strings.Join(htmls, "\n<hr>\n")
	if len(htmls) > 0 && len(htmls) == len(children) {
		text = "" // all HTML: let the caller render the joined HTML once
	}
	return text, htmlBody
}

// leaf handles a non-multipart entity.
func (w *walker) leaf(h textproto.Header, body []byte, mediaType string, params map[string]string, disp string, dparams map[string]string, name string) (text, htmlBody string) {
	data := w.transferDecode(h.Get("Content-Transfer-Encoding"), body, name)

	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = cleanLine(decodeHeader(filename, w.fallback))
	isBody := disp != "attachment" && (mediaType == "text/plain" || mediaType == "text/html") &&
		(filename == "" || disp == "inline")
	if isBody {
		label := params["charset"]
		if label == "" && mediaType == "text/html" && !utf8.Valid(data) {
			if _, declared, _ := htmlcharset.DetermineEncoding(data, "text/html"); declared != "windows-1252" {
				label = declared
			}
		}
		s, ok := decodeCharset(label, data)
		if !ok {
			w.warn("%s：字符集 %q 与内容不符或无法识别，已按推测解码", name, printable(label, 40))
		}
		if strings.ContainsRune(s, 0) {
			w.warn("%s：含有 NUL 字节，已删除", name)
			s = strings.ReplaceAll(s, "\x00", "")
		}
		if mediaType == "text/html" {
			return "", s
		}
		return s, ""
	}
	if mediaType == "message/rfc822" || mediaType == "message/global" {
		w.attachedMessage(data, name)
	}
	w.p.Attachments = append(w.p.Attachments, Part{
		Name:        filename,
		ContentType: mediaType,
		ContentID:   strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>"),
		Inline:      disp == "inline",
		Data:        data,
	})
	return "", ""
}

// attachedMessage reads the text of an attached (forwarded) message into
// w.forwarded, the first one only; its own attachments stay inside it.
func (w *walker) attachedMessage(data []byte, name string) {
	if w.forwarded != "" || w.parts >= maxParts {
		return
	}
	h, body, warnings := readHeader(data, name+"（附带的邮件）的头：")
	if h.Len() == 0 {
		return
	}
	for _, wn := range warnings {
		w.warn("%s", wn)
	}
	inner := walker{p: &Parsed{}, fallback: w.fallback, parts: w.parts}
	text, htmlBody := inner.walk(h, body, maxDepth/2, "")
	w.parts = inner.parts
	if strings.TrimSpace(text) == "" && htmlBody != "" {
		text = ingest.HTMLToText(htmlBody)
	}
	w.forwarded = text
	for _, wn := range inner.p.Warnings {
		w.warn("%s（附带的邮件）%s", name, wn)
	}
}

// transferDecode undoes the Content-Transfer-Encoding, decoding broken
// input as far as it goes.
func (w *walker) transferDecode(cte string, data []byte, name string) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		if !looksBase64(data) {
			w.warn("%s：声明为 base64 但内容不是，按原文读取", name)
			return data
		}
		out, ok := lenientBase64(data)
		if !ok {
			w.warn("%s：base64 编码有误，已尽量解码", name)
		}
		return out
	case "quoted-printable":
		out, ok := lenientQP(data)
		if !ok {
			w.warn("%s：quoted-printable 编码有误，无法解码之处保留原样", name)
		}
		return out
	case "", "7bit", "8bit", "binary":
		return data
	default:
		w.warn("%s：未知的传输编码 %q，内容保留原样", name, printable(cte, 40))
		return data
	}
}

// contentType returns the media type (lower case, text/plain by default)
// and its parameters. A header whose parameters cannot be parsed keeps its
// media type; parameters are then read leniently.
func contentType(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}
	}
	t, params := parseParams(v)
	if t == "" || !strings.Contains(t, "/") {
		t = "text/plain"
	}
	return t, params
}

func disposition(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Disposition")
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}
	}
	return parseParams(v)
}

var looseParam = regexp.MustCompile(`(?i)(?:^|;)\s*([a-z0-9_*-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))`)

// parseParams parses "type/sub; k=v" with mime.ParseMediaType (RFC 2231
// continuations and charsets included) and falls back to a lenient reading
// when that fails: broken quoting and duplicate parameters are common.
func parseParams(v string) (string, map[string]string) {
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		return t, params
	}
	t = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
	params = map[string]string{}
	for _, m := range looseParam.FindAllStringSubmatch(v, -1) {
		k := strings.ToLower(strings.TrimSuffix(m[1], "*"))
		if _, dup := params[k]; dup {
			continue
		}
		val := m[2]
		if val == "" {
			val = m[3]
		}
		params[k] = val
	}
	return t, params
}

// firstAddress returns the first address of a From or Reply-To header.
func firstAddress(v, fallback string) Address {
	list := addressList(v, fallback)
	if len(list) == 0 {
		return Address{}
	}
	return list[0]
}

var bareAddress = regexp.MustCompile(`[A-Za-z0-9._%+'=/!#$&*?^{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?`)

// addressList parses an address header. Raw 8-bit bytes are decoded with
// fallback first; names are decoded from RFC 2047. When net/mail cannot
// parse the header, bare addresses are picked out of it.
func addressList(v, fallback string) []Address {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	if len(v) > maxAddressHeader {
		// Only the first addresses matter; a cut one is found by the
		// fallback below.
		v = truncateUTF8(v, maxAddressHeader)
	}
	if !utf8.ValidString(v) {
		v, _ = decodeCharset(fallback, []byte(v))
	}
	parser := mail.AddressParser{WordDecoder: rawWordDecoder}
	list, err := parser.ParseList(v)
	var out []Address
	if err == nil {
		for _, a := range list[:min(len(list), maxAddresses)] {
			name := a.Name
			// The raw decoder left the words' bytes in their charset;
			// decode the name again from the original words.
			name = decodeNameFrom(v, a.Address, name)
			out = append(out, Address{Name: cleanLine(name), Email: a.Address})
		}
		return out
	}
	for _, m := range bareAddress.FindAllString(v, maxAddresses) {
		out = append(out, Address{Email: m})
	}
	if len(out) == 1 {
		// "Name <addr" with a missing bracket and the like: the text
		// before the address is the name.
		if i := strings.Index(v, out[0].Email); i > 0 {
			name := strings.Trim(strings.TrimSpace(v[:i]), `"<'`)
			out[0].Name = cleanLine(decodeHeader(name, fallback))
		}
	}
	return out
}

// decodeNameFrom finds the display name of addr in the raw header v and
// decodes it with decodeHeader, which handles charsets (net/mail's word
// decoder does not know GB18030 and friends). parsed is what net/mail
// made of the name and is used when the raw name cannot be located.
func decodeNameFrom(v, addr, parsed string) string {
	if parsed == "" {
		return ""
	}
	if !strings.Contains(v, "=?") {
		return parsed
	}
	// Locate "<addr>" and take the text since the previous comma that is
	// not inside quotes.
	i := strings.Index(v, "<"+addr+">")
	if i < 0 {
		return decodeHeader(parsed, "")
	}
	start, quoted := 0, false
	for j := 0; j < i; j++ {
		switch v[j] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				start = j + 1
			}
		}
	}
	raw := strings.TrimSpace(v[start:i])
	raw = strings.ReplaceAll(strings.Trim(raw, `"`), `\"`, `"`)
	return decodeHeader(raw, "")
}

var msgIDPattern = regexp.MustCompile(`<([^<>\s]+)>`)

// msgIDs returns the message ids of a Message-ID, In-Reply-To or
// References header, without brackets. A lone id without brackets is
// accepted too.
func msgIDs(v string) []string {
	v = strings.ToValidUTF8(v, "")
	var out []string
	for _, m := range msgIDPattern.FindAllStringSubmatch(v, 100) {
		out = append(out, m[1])
	}
	if out == nil {
		if f := strings.Fields(v); len(f) == 1 && strings.Contains(f[0], "@") && len(f[0]) <= 250 {
			out = append(out, strings.Trim(f[0], "<>"))
		}
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// cleanLine makes a header value one line of valid UTF-8 without control
// characters.
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\r' || r == '\n':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(ingest.CollapseSpace(s))
}

// printable shortens s to at most n bytes of valid UTF-8 for messages.
func printable(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		s = truncateUTF8(s, n) + "…"
	}
	return s
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string { return ingest.TruncateUTF8(s, n) }
