// Package record holds what the stages share about the records they read
// and write: decoding a payload and checking its schema version (a
// payload that fails either is rejected to the dead-letter topic),
// appending a JSON record within a size budget, and the writer the
// stages write to the broker with.
package record

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/bus"
)

// Decode reads a JSON payload; one that does not decode is rejected to the
// dead-letter topic.
func Decode(m bus.Message, v any) error {
	if err := json.Unmarshal(m.Value, v); err != nil {
		return bus.Reject(fmt.Errorf("decode %s payload: %w", m.Topic, err))
	}
	return nil
}

// CheckVersion rejects a payload of another schema version.
func CheckVersion(m bus.Message, got, want int) error {
	if got != want {
		return bus.Reject(fmt.Errorf("%s payload has schema version %d, want %d", m.Topic, got, want))
	}
	return nil
}

// AppendJSON appends v as a message of topic keyed by key; a value that
// does not encode, or encodes in more than budget bytes, is rejected.
func AppendJSON(out *[]bus.Message, budget int, topic, key string, v any) error {
	b, err := ingest.EncodeJSON(v)
	if err != nil {
		return bus.Reject(err)
	}
	if len(b) > budget {
		return bus.Reject(fmt.Errorf("the %s record %s encodes in %d bytes, over the budget of %d", topic, key, len(b), budget))
	}
	*out = append(*out, bus.Message{Topic: topic, Key: []byte(key), Value: b})
	return nil
}

// Writer writes messages to the broker; *bus.Producer is one. Write
// blocks until the broker acknowledged every message (nil) or the write
// failed or ctx ended (an error: some messages may have been written, so
// a caller writes them again, and consumers drop what they see twice by
// its id). It is safe for concurrent use.
type Writer interface {
	Write(ctx context.Context, msgs ...bus.Message) error
}
