package ingest

import (
	"regexp"
	"testing"
)

var referenceRe = regexp.MustCompile(`^TS[0-9A-HJKMNP-TV-Z]{10}$`)

func TestReferences(t *testing.T) {
	// A hotline work order: its number is printed on the customer's
	// receipt and known to the call-centre's staff.
	id := NewID(ChannelHotline, "hotline", "GD20261206-0042")
	keyA, keyB := []byte("secret of installation A"), []byte("secret of installation B")
	tests := []struct {
		name  string
		a, b  References
		equal bool
	}{
		{"two processes with the same key", NewReferences(keyA), NewReferences(append([]byte(nil), keyA...)), true},
		{"two keys", NewReferences(keyA), NewReferences(keyB), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra, rb := tt.a.For(id), tt.b.For(id)
			if (ra == rb) != tt.equal {
				t.Fatalf("references %s and %s, want equal: %v", ra, rb, tt.equal)
			}
			for _, r := range []string{ra, rb} {
				if !referenceRe.MatchString(r) {
					t.Errorf("reference %q is not TS and ten Crockford characters", r)
				}
				if r == ReferenceFor(id) {
					t.Errorf("reference %s is the unkeyed hash of the work order's id: anyone can compute it", r)
				}
			}
		})
	}
	if NewReferences(keyA).For(NewID(ChannelHotline, "hotline", "GD20261206-0043")) == NewReferences(keyA).For(id) {
		t.Error("two work orders share a reference")
	}
}

func TestZeroReferencesPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("the zero References derived a reference")
		}
	}()
	var r References
	r.For("webform:x")
}
