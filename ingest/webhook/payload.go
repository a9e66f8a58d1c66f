package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
)

// MaxSourceIDBytes bounds the source_id of a payload.
const MaxSourceIDBytes = 200

// errBadJSON is returned by parsePayload for bodies that are not one JSON
// object in UTF-8; the handler answers 400.
var errBadJSON = errors.New("invalid JSON")

// payload is a partner's complaint after mapping.
type payload struct {
	Name, Phone, Email, Subject, Description, SourceID string
	OccurredAt                                         time.Time
}

// fieldPaths is a resolved Mapping: the path of every field of Fields.
type fieldPaths map[string][]string

// newFieldPaths resolves a Mapping (already validated) against the
// default field names.
func newFieldPaths(mapping map[string]string) fieldPaths {
	fp := make(fieldPaths, len(Fields))
	for _, f := range Fields {
		fp[f] = []string{f}
		if p, ok := mapping[f]; ok {
			if parts, err := splitPath(p); err == nil {
				fp[f] = parts
			}
		}
	}
	return fp
}

// parsePayload decodes body (one JSON object, UTF-8) and reads the fields
// through paths. A body that is not such an object gives an error wrapping
// errBadJSON; a field of the wrong type a *ingest.FieldError.
func parsePayload(body []byte, paths fieldPaths) (payload, error) {
	var p payload
	if !utf8.Valid(body) {
		return p, errors.Join(errBadJSON, errors.New("the body is not valid UTF-8"))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return p, errors.Join(errBadJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, errors.Join(errBadJSON, errors.New("data after the JSON object"))
	}
	if _, ok := doc.(map[string]any); !ok {
		return p, errors.Join(errBadJSON, errors.New("the body is not a JSON object"))
	}

	var err error
	text := func(field string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = stringAt(doc, paths[field], field)
		return strings.TrimSpace(s)
	}
	p.Name = text("name")
	p.Phone = text("phone")
	p.Email = text("email")
	p.Subject = text("subject")
	p.Description = text("description")
	p.SourceID = text("source_id")
	if err != nil {
		return p, err
	}
	if len(p.SourceID) > MaxSourceIDBytes {
		return p, &ingest.FieldError{Field: "source_id", Message: "内容过长，最多 " + strconv.Itoa(MaxSourceIDBytes) + " 字节"}
	}
	p.OccurredAt, err = timeAt(doc, paths["occurred_at"])
	return p, err
}

// lookup follows path through doc: object keys, and array indexes for
// numeric parts.
func lookup(doc any, path []string) (any, bool) {
	cur := doc
	for _, key := range path {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[key]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// stringAt returns the text at path: a string, or a number as written
// (partners send phone numbers and ids as numbers). Missing or null is "".
func stringAt(doc any, path []string, field string) (string, error) {
	v, ok := lookup(doc, path)
	if !ok || v == nil {
		return "", nil
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", &ingest.FieldError{Field: field, Message: "必须是字符串"}
}

// timeAt reads occurred_at: an RFC 3339 string or a number of Unix
// seconds. Missing, null or "" gives the zero time.
func timeAt(doc any, path []string) (time.Time, error) {
	bad := &ingest.FieldError{Field: "occurred_at", Message: "时间格式不正确，应为 RFC 3339（如 2026-05-01T08:00:00+08:00）或 Unix 秒数"}
	v, ok := lookup(doc, path)
	if !ok || v == nil {
		return time.Time{}, nil
	}
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
		if err != nil {
			return time.Time{}, bad
		}
		return t.UTC(), nil
	case json.Number:
		f, err := v.Float64()
		if err != nil || f <= 0 || f > math.MaxInt32*4 || f != math.Trunc(f) {
			return time.Time{}, bad
		}
		return time.Unix(int64(f), 0).UTC(), nil
	}
	return time.Time{}, bad
}
