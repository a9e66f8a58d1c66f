package keypath

import (
	"errors"
	"fmt"
	"testing"
)

func TestPrefix(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"key of its own", errors.New("brokers[0]: \"x\" is not host:port"), "bus.brokers[0]: \"x\" is not host:port"},
		{"sentence", errors.New("no brokers configured"), "bus: no brokers configured"},
		{"sentence with a colon", errors.New("bad value: x"), "bus: bad value: x"},
		{"index", errors.New("[2]: bad"), "bus[2]: bad"},
		{"joined", errors.Join(errors.New("a: 1"), errors.New("b.c: 2")), "bus.a: 1\nbus.b.c: 2"},
		{"nested join", errors.Join(errors.New("a: 1"), errors.Join(errors.New("b: 2"), errors.New("c: 3"))), "bus.a: 1\nbus.b: 2\nbus.c: 3"},
		{"wrapped", fmt.Errorf("a: %w", errors.New("inner")), "bus.a: inner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Under("bus", tt.err)
			if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
				t.Errorf("Under = %q, want %q", got, tt.want)
			}
		})
	}
	inner := errors.New("x: y")
	if !errors.Is(Under("k", errors.Join(inner)), inner) {
		t.Error("Under does not wrap the errors")
	}
}
