package imap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
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
	// Warnings lists what could not be decoded cleanly (a broken base64
	// part, an unknown charset); the rest of the message is still used.
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
// at all (no header, a malformed header block).
var ErrUnparseable = errors.New("unparseable message")

// ParseMessage reads a raw RFC 5322 message. It is pure (no I/O) and safe
// for concurrent use. It decodes RFC 2047 headers in any charset
// golang.org/x/text knows (GB2312 and GBK labels as GB18030), bodies in
// quoted-printable and base64 (broken base64 decoded as far as it goes),
// nested multiparts, HTML-only bodies to text, and collects attachments.
// It fails, with an error wrapping ErrUnparseable, only when the header
// block cannot be read; problems in the body become Warnings.
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
		// recognised (closing boundary); add the newline the message uses.
		nl := "\n"
		if bytes.Contains(body, []byte("\r\n")) {
			nl = "\r\n"
		}
		body = append(body[:len(body):len(body)], nl...)
	}
	br := bufio.NewReader(bytes.NewReader(body))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return p, fmt.Errorf("%w: header: %s", ErrUnparseable, printable(err.Error(), 200))
	}
	if h.Len() == 0 {
		return p, fmt.Errorf("%w: no header fields", ErrUnparseable)
	}

	w := walker{p: &p}
	_, ctParams := contentType(h)
	fallback := ctParams["charset"] // for raw 8-bit header bytes
	w.fallback = fallback

	p.Subject = cleanLine(decodeHeader(h.Get("Subject"), fallback))
	p.From = firstAddress(h.Get("From"), fallback)
	p.ReplyTo = firstAddress(h.Get("Reply-To"), fallback)
	p.To = addressList(h.Get("To"), fallback)
	p.MessageID = first(msgIDs(h.Get("Message-Id")))
	p.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	p.References = msgIDs(h.Get("References"))
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		p.Date = d
	}

	text, htmlBody := w.walk(h, br, 0, "")
	p.Text = ingest.TidyText(text)
	if htmlBody != "" {
		if p.Text == "" {
			p.Text = ingest.HTMLToText(htmlBody)
			p.TextFromHTML = true
		}
		p.HTML = sanitizeHTML(htmlBody)
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
}

func (w *walker) warn(format string, args ...any) {
	if len(w.p.Warnings) < 20 {
		w.p.Warnings = append(w.p.Warnings, fmt.Sprintf(format, args...))
	}
}

// walk handles one entity (the message or a part) with header h and raw
// body r, and returns the text and HTML it contributes to the message
// body. Attachments are appended to w.p.
func (w *walker) walk(h textproto.Header, r io.Reader, depth int, path string) (text, htmlBody string) {
	w.parts++
	name := path
	if name == "" {
		name = "body"
	}
	mediaType, params := contentType(h)
	disp, dparams := disposition(h)

	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			w.warn("%s: multipart without boundary, read as text", name)
			return w.leaf(h, r, "text/plain", params, disp, dparams, name)
		}
		if depth >= maxDepth {
			w.warn("%s: multipart nested deeper than %d levels, ignored", name, maxDepth)
			return "", ""
		}
		return w.multipart(mediaType, textproto.NewMultipartReader(r, boundary), depth, path)
	}
	return w.leaf(h, r, mediaType, params, disp, dparams, name)
}

func (w *walker) multipart(mediaType string, mr *textproto.MultipartReader, depth int, path string) (text, htmlBody string) {
	type child struct{ text, html string }
	var children []child
	for i := 1; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			w.warn("%s: multipart: %s", orBody(path), printable(err.Error(), 100))
			break
		}
		if w.parts >= maxParts {
			w.warn("more than %d MIME parts, the rest ignored", maxParts)
			break
		}
		sub := strconv.Itoa(i)
		if path != "" {
			sub = path + "." + sub
		}
		t, hb := w.walk(part.Header, part, depth+1, sub)
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
func (w *walker) leaf(h textproto.Header, r io.Reader, mediaType string, params map[string]string, disp string, dparams map[string]string, name string) (text, htmlBody string) {
	data, err := io.ReadAll(r)
	if err != nil {
		w.warn("%s: %s (kept what was read)", name, printable(err.Error(), 100))
	}
	data = w.transferDecode(h.Get("Content-Transfer-Encoding"), data, name)

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
			w.warn("%s: charset %q: decoded as best guess", name, printable(label, 40))
		}
		if mediaType == "text/html" {
			return "", s
		}
		return s, ""
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

// transferDecode undoes the Content-Transfer-Encoding, decoding broken
// input as far as it goes.
func (w *walker) transferDecode(cte string, data []byte, name string) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		out, ok := lenientBase64(data)
		if !ok {
			w.warn("%s: broken base64, decoded what could be decoded", name)
		}
		return out
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(data)))
		if err == nil {
			return out
		}
		w.warn("%s: broken quoted-printable, undecodable lines kept as they are", name)
		var buf bytes.Buffer
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(line)))
			if err != nil {
				buf.Write(line)
				continue
			}
			buf.Write(d)
		}
		return buf.Bytes()
	case "", "7bit", "8bit", "binary":
		return data
	default:
		w.warn("%s: unknown transfer encoding %q, content kept as it is", name, printable(cte, 40))
		return data
	}
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
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
