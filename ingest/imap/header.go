package imap

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/emersion/go-message/textproto"
)

// Limits of one header block.
const (
	maxHeaderFields = 1000     // fields kept per header block
	maxFieldBytes   = 64 << 10 // bytes kept of one field, continuations included
	maxSkipWarnings = 5        // skipped lines named one by one
)

// headerLine is one line of a header block: its bytes without the line
// ending, its offset in the block and its 1-based number for warnings.
type headerLine struct {
	text     []byte
	off, num int
}

// readHeader reads the header block at the start of data leniently, as
// mail in the wild needs, and returns the header, the body after it and a
// warning (in Chinese, naming where) for everything it skipped. The strict
// reader (textproto.ReadHeader) refuses a whole message for one field name
// holding a space, a tab or an 8-bit byte, for a line without a colon or
// for a continuation line with nothing to continue; readHeader skips such
// a line (it stays in the raw bytes of the message) and hands the clean
// fields to the strict reader. A line that is no field after the last
// field starts the body: the empty line before the body is missing. NUL
// bytes are removed from values; a field longer than maxFieldBytes is cut.
// The header is empty when no field could be read.
func readHeader(data []byte, where string) (textproto.Header, []byte, []string) {
	var lines []headerLine
	body := data[len(data):]
	for rest, num := data, 1; len(rest) > 0; num++ {
		off := len(data) - len(rest)
		var line []byte
		line, rest, _ = cutLine(rest)
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			body = rest
			break
		}
		lines = append(lines, headerLine{text: line, off: off, num: num})
	}

	// A line without a colon after the last field starts the body.
	last := -1
	for i, l := range lines {
		if _, ok := fieldName(l.text); ok {
			last = i
		}
	}
	var warnings []string
	warn := func(format string, args ...any) {
		warnings = append(warnings, where+fmt.Sprintf(format, args...))
	}
	for i := last + 1; i < len(lines); i++ {
		if !isContinuation(lines[i].text) && bytes.IndexByte(lines[i].text, ':') < 0 {
			warn("缺少与正文之间的空行，第 %d 行起按正文读取", lines[i].num)
			body = data[lines[i].off:]
			lines = lines[:i]
			break
		}
	}

	var clean bytes.Buffer
	fields, size, skipping := 0, 0, true
	nul, cut := false, false
	skipped, dropped := 0, 0 // bad lines beyond maxSkipWarnings, fields beyond maxHeaderFields
	for i, l := range lines {
		if isContinuation(l.text) {
			switch {
			case i == 0:
				warn("第 %d 行是没有字段可接续的续行，已跳过", l.num)
			case skipping:
				// The rest of a skipped field.
			case size+len(l.text) > maxFieldBytes:
				cut = true
			default:
				nul = writeValue(&clean, "\r\n", l.text) || nul
				size += len(l.text)
			}
			continue
		}
		if !skipping {
			clean.WriteString("\r\n")
		}
		name, ok := fieldName(l.text)
		if !ok {
			skipping = true
			if len(warnings) >= maxSkipWarnings {
				skipped++
				continue
			}
			text, _ := decodeCharset("", l.text)
			warn("第 %d 行不是合法的字段，已跳过：%s", l.num, printable(text, 60))
			continue
		}
		if fields >= maxHeaderFields {
			dropped++
			skipping = true
			continue
		}
		fields++
		skipping = false
		clean.Write(name)
		value := l.text[bytes.IndexByte(l.text, ':'):]
		if len(value) > maxFieldBytes {
			value, cut = []byte(truncateUTF8(string(value), maxFieldBytes)), true
		}
		size = len(value)
		nul = writeValue(&clean, "", value) || nul
	}
	if !skipping {
		clean.WriteString("\r\n")
	}
	clean.WriteString("\r\n")
	if skipped > 0 {
		warn("另有 %d 行不是合法的字段，已跳过", skipped)
	}
	if nul {
		warn("含有 NUL 字节，已删除")
	}
	if cut {
		warn("有字段超过 %d 字节，已截断", maxFieldBytes)
	}
	if dropped > 0 {
		warn("字段超过 %d 个，其余 %d 个已忽略", maxHeaderFields, dropped)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(&clean))
	if err != nil {
		// Cannot happen: every line handed on is a valid field.
		warn("无法读取：%s", printable(err.Error(), 100))
		return textproto.Header{}, body, warnings
	}
	return h, body, warnings
}

// isContinuation reports whether a header line continues the field before
// it (it starts with white space).
func isContinuation(line []byte) bool {
	return line[0] == ' ' || line[0] == '\t'
}

// fieldName returns the name of a header field line and whether the line
// is a valid field: a name of printable ASCII without a colon (white space
// before the colon is tolerated and dropped), then a colon.
func fieldName(line []byte) ([]byte, bool) {
	if isContinuation(line) {
		return nil, false
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return nil, false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return nil, false
		}
	}
	return name, true
}

// writeValue writes prefix and v without NUL bytes to b and reports
// whether v held any.
func writeValue(b *bytes.Buffer, prefix string, v []byte) bool {
	b.WriteString(prefix)
	if bytes.IndexByte(v, 0) < 0 {
		b.Write(v)
		return false
	}
	b.Write(bytes.ReplaceAll(v, []byte{0}, nil))
	return true
}
