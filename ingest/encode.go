package ingest

import (
	"bytes"
	"encoding/json"
)

// EncodeJSON encodes v as every payload tousu writes to the broker is
// encoded: JSON without HTML escaping (so <, > and & stay one byte each,
// not six) and without a trailing newline. Whatever bounds a payload's
// size measures it with EncodeJSON.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
