package caseindex

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	cst := time.FixedZone("CST", 8*60*60)
	tests := []struct {
		raw  string
		want Query
	}{
		{"", Query{Sort: SortNewest, Limit: DefaultLimit}},
		{"q=%E4%BF%A1%E5%8F%B7%E5%B7%AE", Query{Text: "信号差", Sort: SortRelevance, Limit: DefaultLimit}},
		{"q=+++", Query{Sort: SortNewest, Limit: DefaultLimit}},
		{"q=ORD12345&sort=deadline", Query{Text: "ORD12345", Sort: SortDeadline, Limit: DefaultLimit}},
		{"channel=email&category=billing&status=open&reference=TS0123456789",
			Query{Channel: "email", Category: "billing", Status: "open", Reference: "TS0123456789", Sort: SortNewest, Limit: DefaultLimit}},
		{"from=2024-05-01&to=2024-05-31",
			Query{From: time.Date(2024, 5, 1, 0, 0, 0, 0, cst), To: time.Date(2024, 6, 1, 0, 0, 0, 0, cst), Sort: SortNewest, Limit: DefaultLimit}},
		{"from=2024-05-01T08:00:00Z&to=2024-05-01T17:00:00%2B08:00",
			Query{From: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), To: time.Date(2024, 5, 1, 17, 0, 0, 0, cst), Sort: SortNewest, Limit: DefaultLimit}},
		{"due_before=2024-05-01T09:00:00+08:00", // an unescaped + arrives as a space
			Query{DueBefore: time.Date(2024, 5, 1, 9, 0, 0, 0, cst), Sort: SortNewest, Limit: DefaultLimit}},
		{"due_before=2024-05-02",
			Query{DueBefore: time.Date(2024, 5, 2, 0, 0, 0, 0, cst), Sort: SortNewest, Limit: DefaultLimit}},
		{"sort=-received_at&offset=40&limit=20", Query{Sort: SortNewest, Offset: 40, Limit: 20}},
		{"sort=received_at&limit=200", Query{Sort: SortOldest, Limit: MaxLimit}},
		{"sort=relevance", Query{Sort: SortRelevance, Limit: DefaultLimit}},
		{"unknown=1&q=", Query{Sort: SortNewest, Limit: DefaultLimit}},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			values, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(values)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.raw, err)
			}
			if !sameQuery(got, tc.want) {
				t.Errorf("ParseQuery(%q)\n got %+v\nwant %+v", tc.raw, got, tc.want)
			}
		})
	}
}

// sameQuery compares queries with times compared as instants.
func sameQuery(a, b Query) bool {
	if !a.From.Equal(b.From) || !a.To.Equal(b.To) || !a.DueBefore.Equal(b.DueBefore) {
		return false
	}
	a.From, a.To, a.DueBefore = time.Time{}, time.Time{}, time.Time{}
	b.From, b.To, b.DueBefore = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		raw       string
		wantParam string
	}{
		{"q=a&q=b", "q"},
		{"q=" + strings.Repeat("x", MaxTextBytes+1), "q"},
		{"q=%FF", "q"},
		{"q=a%00b", "q"},
		{"channel=" + strings.Repeat("x", MaxFilterBytes+1), "channel"},
		{"status=pending", "status"},
		{"sort=score", "sort"},
		{"from=yesterday", "from"},
		{"from=2024-13-01", "from"},
		{"to=2024-05-01T25:00:00Z", "to"},
		{"due_before=1", "due_before"},
		{"from=2024-05-02&to=2024-05-01", "to"},
		{"from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z", "to"},
		{"from=9999-01-01", "from"},
		{"offset=-1", "offset"},
		{"offset=x", "offset"},
		{"offset=99999999999999999999", "offset"},
		{"offset=9990&limit=20", "offset"},
		{"limit=0", "limit"},
		{"limit=-1", "limit"},
		{"limit=201", "limit"},
		{"limit=1.5", "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			values, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseQuery(values)
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseQuery(%q) error = %v, want a *ParamError", tc.raw, err)
			}
			if pe.Param != tc.wantParam || pe.Message == "" {
				t.Errorf("ParseQuery(%q) = %+v, want param %q with a message", tc.raw, pe, tc.wantParam)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	base := time.Date(2024, 5, 6, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		q       Query
		want    Query
		wantErr string // the Param of the expected error
	}{
		{"defaults", Query{}, Query{Sort: SortNewest, Limit: DefaultLimit}, ""},
		{"text defaults to relevance", Query{Text: " 信号差 "}, Query{Text: "信号差", Sort: SortRelevance, Limit: DefaultLimit}, ""},
		{"explicit sort kept", Query{Text: "x", Sort: SortDeadline}, Query{Text: "x", Sort: SortDeadline, Limit: DefaultLimit}, ""},
		{"limit clamped", Query{Limit: MaxLimit + 50}, Query{Sort: SortNewest, Limit: MaxLimit}, ""},
		{"filters trimmed", Query{Channel: " email ", Status: "open "}, Query{Channel: "email", Status: "open", Sort: SortNewest, Limit: DefaultLimit}, ""},
		{"last page of the window", Query{Offset: MaxWindow - 10, Limit: 10}, Query{Sort: SortNewest, Offset: MaxWindow - 10, Limit: 10}, ""},
		{"past the window", Query{Offset: MaxWindow - 9, Limit: 10}, Query{}, "offset"},
		{"huge offset", Query{Offset: int(^uint(0) >> 1)}, Query{}, "offset"},
		{"negative offset", Query{Offset: -1}, Query{}, "offset"},
		{"negative limit", Query{Limit: -1}, Query{}, "limit"},
		{"unknown sort", Query{Sort: "newest"}, Query{}, "sort"},
		{"unknown status", Query{Status: "done"}, Query{}, "status"},
		{"from equals to", Query{From: base, To: base}, Query{}, "to"},
		{"year 1", Query{DueBefore: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}, Query{}, "due_before"},
		{"control character", Query{Reference: "TS\n1"}, Query{}, "reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.q.Normalize()
			if tc.wantErr != "" {
				var pe *ParamError
				if !errors.As(err, &pe) || pe.Param != tc.wantErr {
					t.Fatalf("Normalize(%+v) error = %v, want a ParamError for %q", tc.q, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%+v): %v", tc.q, err)
			}
			if !sameQuery(got, tc.want) {
				t.Errorf("Normalize(%+v)\n got %+v\nwant %+v", tc.q, got, tc.want)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"q=信号差&sort=deadline&limit=10&offset=20",
		"from=2024-05-01&to=2024-05-31&due_before=2024-06-01T00:00:00Z",
		"channel=email&category=billing&status=open&reference=TS0123456789",
		"limit=0&offset=-1&sort=x",
		"q=%FF%00&from=9999-99-99",
		"to=2024-05-01T09:00:00+08:00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(values)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseQuery(%q) error %v is no *ParamError", raw, err)
			}
			return
		}
		again, err := q.Normalize()
		if err != nil {
			t.Fatalf("ParseQuery(%q) = %+v, which Normalize rejects: %v", raw, q, err)
		}
		if !sameQuery(again, q) {
			t.Fatalf("Normalize is not idempotent on %+v: %+v", q, again)
		}
		if q.Limit < 1 || q.Limit > MaxLimit || q.Offset < 0 || q.Offset+q.Limit > MaxWindow {
			t.Fatalf("ParseQuery(%q) = %+v: page out of bounds", raw, q)
		}
	})
}
