package caseindex

import (
	"errors"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
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
			Query{Filters: map[string]string{"channel": "email", "category": "billing", "status": "open", "reference": "TS0123456789"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"contact_type=%E6%8A%95%E8%AF%89&grade=%E9%87%8D%E5%A4%A7&validity=invalid&department=%E7%BD%91%E7%BB%9C%E9%83%A8&queue=network-2&source=acme&pack=telecom%401",
			Query{Filters: map[string]string{"contact_type": "投诉", "grade": "重大", "validity": "invalid", "department": "网络部", "queue": "network-2", "source": "acme", "pack": "telecom@1"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"validity=valid&status=closed&q=%E4%BF%A1%E5%8F%B7",
			Query{Text: "信号", Filters: map[string]string{"validity": "valid", "status": "closed"}, Sort: SortRelevance, Limit: DefaultLimit}},
		{"grade=+%E4%B8%80%E8%88%AC+&queue=&department=+", // trimmed; empty ones do not filter
			Query{Filters: map[string]string{"grade": "一般"}, Sort: SortNewest, Limit: DefaultLimit}},
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
		{"owner=%E5%BC%A0%E4%BC%9F&assignee=agent07&customer=%E7%8E%8B%E5%A5%B3%E5%A3%AB&work_order=GD20260302000117&business_type=%E5%AE%BD%E5%B8%A6%E6%95%85%E9%9A%9C",
			Query{Filters: map[string]string{"owner": "张伟", "assignee": "agent07", "customer": "王女士", "work_order": "GD20260302000117", "business_type": "宽带故障"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"assignee=me", Query{Filters: map[string]string{"assignee": "me"}, Sort: SortNewest, Limit: DefaultLimit}}, // the console's business
		{"phone=13912340001", Query{Filters: map[string]string{"phone": "+8613912340001"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"phone=139+1234+0001", Query{Filters: map[string]string{"phone": "+8613912340001"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"phone=%2B86+139-1234-0001", Query{Filters: map[string]string{"phone": "+8613912340001"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"phone=%EF%BC%91%EF%BC%93%EF%BC%99%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%91", // full-width digits
			Query{Filters: map[string]string{"phone": "+8613912340001"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"phone=010-6234+5678", Query{Filters: map[string]string{"phone": "+861062345678"}, Sort: SortNewest, Limit: DefaultLimit}},
		{"message_id=%3C" + strings.Repeat("m", 2*MaxFilterBytes) + "%40x.example%3E", // longer than other filters may be
			Query{Filters: map[string]string{"message_id": "<" + strings.Repeat("m", 2*MaxFilterBytes) + "@x.example>"}, Sort: SortNewest, Limit: DefaultLimit}},
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

// sameQuery compares queries with times compared as instants and a nil
// Filters map equal to an empty one.
func sameQuery(a, b Query) bool {
	if !a.From.Equal(b.From) || !a.To.Equal(b.To) || !a.DueBefore.Equal(b.DueBefore) || !maps.Equal(a.Filters, b.Filters) {
		return false
	}
	a.From, a.To, a.DueBefore, a.Filters = time.Time{}, time.Time{}, time.Time{}, nil
	b.From, b.To, b.DueBefore, b.Filters = time.Time{}, time.Time{}, time.Time{}, nil
	return reflect.DeepEqual(a, b)
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
		{"message_id=" + strings.Repeat("x", normalize.MaxMessageIDBytes+1), "message_id"},
		{"status=pending", "status"},
		{"status=Open", "status"},
		{"validity=maybe", "validity"},
		{"validity=true", "validity"},
		{"grade=a&grade=b", "grade"},
		{"contact_type=" + strings.Repeat("投", MaxFilterBytes/3+1), "contact_type"},
		{"department=a%0Ab", "department"},
		{"pack=%FF", "pack"},
		{"queue=x&q=%00", "q"}, // q is checked first
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
		{"phone=62345678", "phone"}, // a landline without its area code
		{"phone=1391234000", "phone"},
		{"phone=%E5%BC%A0%E4%B8%89", "phone"},
		// Unknown parameters are refused rather than ignored (which
		// answered every case); names are case-sensitive.
		{"Status=open", "Status"},
		{"phone_number=13912340001", "phone_number"},
		{"unknown=1&q=", "unknown"},
		{"ｑ=信号差", "ｑ"},
		{"zz=1&assignee_name=%E5%BC%A0%E4%B8%89&channel=email", "assignee_name"}, // the first in byte order
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
		{"filters trimmed", Query{Filters: map[string]string{"channel": " email ", "status": "open ", "grade": "\t重大"}},
			Query{Filters: map[string]string{"channel": "email", "status": "open", "grade": "重大"}, Sort: SortNewest, Limit: DefaultLimit}, ""},
		{"empty filters dropped", Query{Filters: map[string]string{"queue": "", "pack": "  "}}, Query{Sort: SortNewest, Limit: DefaultLimit}, ""},
		{"every status", Query{Filters: map[string]string{"status": "in_progress", "validity": "valid"}},
			Query{Filters: map[string]string{"status": "in_progress", "validity": "valid"}, Sort: SortNewest, Limit: DefaultLimit}, ""},
		{"unknown filter", Query{Filters: map[string]string{"phone_number": "13912340001", "channel": "email"}}, Query{}, "phone_number"},
		{"unknown filters, first by name", Query{Filters: map[string]string{"zz": "", "assignee_name": ""}}, Query{}, "assignee_name"},
		{"phone read as intake does", Query{Filters: map[string]string{"phone": "+86 139-1234-0001"}},
			Query{Filters: map[string]string{"phone": "+8613912340001"}, Sort: SortNewest, Limit: DefaultLimit}, ""},
		{"phone that is none", Query{Filters: map[string]string{"phone": "1391234000"}}, Query{}, "phone"},
		{"filter by index field name", Query{Filters: map[string]string{"references": "TS1"}}, Query{}, "references"},
		{"unknown validity", Query{Filters: map[string]string{"validity": "有效"}}, Query{}, "validity"},
		{"last page of the window", Query{Offset: MaxWindow - 10, Limit: 10}, Query{Sort: SortNewest, Offset: MaxWindow - 10, Limit: 10}, ""},
		{"past the window", Query{Offset: MaxWindow - 9, Limit: 10}, Query{}, "offset"},
		{"huge offset", Query{Offset: int(^uint(0) >> 1)}, Query{}, "offset"},
		{"negative offset", Query{Offset: -1}, Query{}, "offset"},
		{"negative limit", Query{Limit: -1}, Query{}, "limit"},
		{"unknown sort", Query{Sort: "newest"}, Query{}, "sort"},
		{"unknown status", Query{Filters: map[string]string{"status": "done"}}, Query{}, "status"},
		{"from equals to", Query{From: base, To: base}, Query{}, "to"},
		{"year 1", Query{DueBefore: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}, Query{}, "due_before"},
		{"control character", Query{Filters: map[string]string{"reference": "TS\n1"}}, Query{}, "reference"},
		{"long filter", Query{Filters: map[string]string{"source": strings.Repeat("x", MaxFilterBytes+1)}}, Query{}, "source"},
		{"long Message-ID", Query{Filters: map[string]string{"message_id": strings.Repeat("x", normalize.MaxMessageIDBytes+1)}}, Query{}, "message_id"},
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
		"contact_type=投诉&grade=重大&validity=invalid&department=网络部&queue=q1&source=acme&pack=telecom@1",
		"validity=maybe&status=x",
		"grade=a&grade=b&queue=%00",
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
		for name, v := range q.Filters {
			f, ok := FilterNamed(name)
			if !ok || v == "" || strings.TrimSpace(v) != v || (len(f.Allowed) > 0 && !slices.Contains(f.Allowed, v)) {
				t.Fatalf("ParseQuery(%q) = %+v: filter %s=%q should not pass", raw, q, name, v)
			}
			if values.Get(name) == "" {
				t.Fatalf("ParseQuery(%q) = %+v: filter %s from no parameter", raw, q, name)
			}
		}
	})
}

func TestParseQueryUnknownParamListsKnown(t *testing.T) {
	values, err := url.ParseQuery("assignee_name=%E5%BC%A0%E4%B8%89")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseQuery(values)
	var pe *ParamError
	if !errors.As(err, &pe) {
		t.Fatalf("ParseQuery error = %v, want a *ParamError", err)
	}
	for _, want := range append([]string{"未知的查询参数", "assignee_name"}, Params()...) {
		if !strings.Contains(pe.Message, want) {
			t.Errorf("message %q does not mention %q", pe.Message, want)
		}
	}
}
