package router

import (
	"testing"

	"github.com/tousu/tousu/normalize"
)

func TestCaseStateOf(t *testing.T) {
	tests := []struct {
		status Status
		want   normalize.CaseState
	}{
		{StatusOpen, normalize.CaseOpen},
		{StatusInProgress, normalize.CaseOpen},
		{StatusResolved, normalize.CaseResolved},
		{StatusClosed, normalize.CaseClosed},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if got := CaseStateOf(Case{Status: tt.status}); got != tt.want {
				t.Errorf("CaseStateOf(%s) = %s, want %s", tt.status, got, tt.want)
			}
		})
	}
}
