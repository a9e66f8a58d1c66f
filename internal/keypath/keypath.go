// Package keypath puts the key path of a configuration section before the
// errors its Validate reports, so that every error names its key once
// (bus.brokers[0]: …) however deep the section lies.
package keypath

import (
	"errors"
	"fmt"
	"strings"
)

// Prefix returns the errors of err, each of a joined error on its own,
// with key before each: "key.sub: …" when the error starts with a key of
// its own (sub: …, sub[1].x: …), else "key: …". A nil err gives none.
func Prefix(key string, err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Prefix(key, e)...)
		}
		return out
	}
	if head, _, ok := strings.Cut(err.Error(), ": "); ok && !strings.ContainsAny(head, " \"") {
		if strings.HasPrefix(head, "[") {
			return []error{fmt.Errorf("%s%w", key, err)}
		}
		return []error{fmt.Errorf("%s.%w", key, err)}
	}
	return []error{fmt.Errorf("%s: %w", key, err)}
}

// Under returns err with key before each of its errors (see Prefix),
// joined; nil for a nil err.
func Under(key string, err error) error { return errors.Join(Prefix(key, err)...) }
