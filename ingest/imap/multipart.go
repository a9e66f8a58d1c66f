package imap

import (
	"bytes"
)

// maxBoundaryBytes bounds a boundary guessed from the body (RFC 2046
// allows 70).
const maxBoundaryBytes = 200

// splitMultipart returns the bodies of the parts of a multipart body
// delimited by boundary, at most maxParts, and whether the closing
// delimiter was found (or maxParts parts were, and the rest is not read). Without it the last part runs to the end of the
// body. A delimiter line may carry trailing white space (RFC 2046
// transport padding); the line ending before a delimiter belongs to it.
// found is false when no delimiter occurs at all.
func splitMultipart(body []byte, boundary string) (parts [][]byte, closed, found bool) {
	delim := []byte("--" + boundary)
	start := -1 // where the current part began, -1 in the preamble
	for rest := body; len(rest) > 0; {
		off := len(body) - len(rest)
		var line []byte
		line, rest, _ = cutLine(rest)
		next := len(body) - len(rest)
		if tail, ok := bytes.CutPrefix(bytes.TrimRight(line, " \t\r"), delim); ok && (len(tail) == 0 || string(tail) == "--") {
			found = true
			if start >= 0 {
				parts = append(parts, body[start:partEnd(body, start, off)])
			}
			if len(tail) > 0 || len(parts) >= maxParts {
				return parts, true, true
			}
			start = next
		}
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, false, found
}

// partEnd is where a part that began at start ends when the delimiter
// line begins at delim: before the line ending that precedes it.
func partEnd(body []byte, start, delim int) int {
	end := delim
	if end > start && body[end-1] == '\n' {
		end--
		if end > start && body[end-1] == '\r' {
			end--
		}
	}
	return end
}

// guessBoundary finds the boundary of a multipart body whose declared
// boundary is missing or never occurs: the first line "--token" that
// occurs again later as a line (as a delimiter or the closing one). It
// returns "" when there is none.
func guessBoundary(body []byte) string {
	tries := 0
	for rest := body; len(rest) > 0 && tries < 5; {
		var line []byte
		line, rest, _ = cutLine(rest)
		line = bytes.TrimRight(line, " \t\r")
		if len(line) > 2 && len(line) <= maxBoundaryBytes+2 && bytes.HasPrefix(line, []byte("--")) &&
			bytes.IndexAny(line, " \t") < 0 && !bytes.HasSuffix(line, []byte("--")) {
			tries++
			if hasLine(rest, line) {
				return string(line[2:])
			}
		}
	}
	return ""
}

// cutLine returns the first line of b without its "\n", the rest of b
// after it, and whether the line ended with "\n".
func cutLine(b []byte) (line, rest []byte, nl bool) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

// hasLine reports whether a line of body starts with delim followed by
// nothing, white space or "--".
func hasLine(body, delim []byte) bool {
	for off := 0; off < len(body); {
		i := bytes.Index(body[off:], delim)
		if i < 0 {
			return false
		}
		start, end := off+i, off+i+len(delim)
		if start == 0 || body[start-1] == '\n' {
			rest := body[end:]
			if len(rest) == 0 || rest[0] == '\r' || rest[0] == '\n' || rest[0] == ' ' || rest[0] == '\t' || bytes.HasPrefix(rest, []byte("--")) {
				return true
			}
		}
		off = end
	}
	return false
}
