package caseindex

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

func TestFilterValues(t *testing.T) {
	decided := router.Case{
		ID:           "TS1",
		References:   []string{"TS1", "", "TS2"},
		Channel:      "email",
		Source:       "support@example.com",
		Category:     "network",
		Status:       router.StatusInProgress,
		Pack:         "telecom@1",
		ContactType:  "投诉",
		Grade:        "重大",
		Validity:     router.Validity{Valid: true},
		Route:        router.Route{Department: "网络部", Queue: "network-2", Owner: "agent7"},
		MessageIDs:   []string{"m1@alice.example", "", "m2@bob.example"},
		Assignee:     "agent9",
		Customer:     normalize.Customer{Name: "王女士", Phone: "+8613912340001", Key: "phone:+8613912340001"},
		WorkOrders:   []string{"GD20260302000117", "", "GD20260303000042"},
		BusinessType: "宽带故障",
	}
	invalid := router.Case{ID: "TS3", Pack: "telecom@1", Validity: router.Validity{Reason: "重复投诉"}}
	tests := []struct {
		name   string
		c      router.Case
		filter string
		want   []string
	}{
		{"channel", decided, "channel", []string{"email"}},
		{"source", decided, "source", []string{"support@example.com"}},
		{"category", decided, "category", []string{"network"}},
		{"status", decided, "status", []string{"in_progress"}},
		{"references without empty ones", decided, "reference", []string{"TS1", "TS2"}},
		{"message ids without empty ones", decided, "message_id", []string{"m1@alice.example", "m2@bob.example"}},
		{"no message ids", invalid, "message_id", nil},
		{"contact type", decided, "contact_type", []string{"投诉"}},
		{"grade", decided, "grade", []string{"重大"}},
		{"valid", decided, "validity", []string{ValidityValid}},
		{"department", decided, "department", []string{"网络部"}},
		{"queue", decided, "queue", []string{"network-2"}},
		{"pack", decided, "pack", []string{"telecom@1"}},
		{"invalid by the pack", invalid, "validity", []string{ValidityInvalid}},
		{"invalid without pack but with a reason", router.Case{Validity: router.Validity{Reason: "x"}}, "validity", []string{ValidityInvalid}},
		{"undecided validity", router.Case{ID: "old"}, "validity", nil},
		{"empty channel", invalid, "channel", nil},
		{"empty route", invalid, "department", nil},
		{"no references", invalid, "reference", nil},
		{"owner", decided, "owner", []string{"agent7"}},
		{"assignee", decided, "assignee", []string{"agent9"}},
		{"phone", decided, "phone", []string{"+8613912340001"}},
		{"customer name", decided, "customer", []string{"王女士"}},
		{"work orders without empty ones", decided, "work_order", []string{"GD20260302000117", "GD20260303000042"}},
		{"business type", decided, "business_type", []string{"宽带故障"}},
		{"no owner", invalid, "owner", nil},
		{"no phone", invalid, "phone", nil},
		{"no work order", invalid, "work_order", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := FilterNamed(tc.filter)
			if !ok {
				t.Fatalf("no filter %q", tc.filter)
			}
			if got := f.Value(tc.c); !slices.Equal(got, tc.want) {
				t.Errorf("%s.Value = %q, want %q", tc.filter, got, tc.want)
			}
		})
	}
}

func TestFilterTable(t *testing.T) {
	names, fields := map[string]bool{}, map[string]bool{}
	for _, f := range Filters {
		if f.Name == "" || f.Label == "" || f.Value == nil {
			t.Errorf("filter %+v lacks a name, label or value function", f)
		}
		for _, reserved := range []string{"q", "from", "to", "due_before", "sort", "offset", "limit"} {
			if f.Name == reserved {
				t.Errorf("filter %s takes the name of a search parameter", f.Name)
			}
		}
		if names[f.Name] || fields[f.IndexField()] {
			t.Errorf("filter %s: name or index field %s used twice", f.Name, f.IndexField())
		}
		names[f.Name], fields[f.IndexField()] = true, true
		// Every allowed value passes both ParseQuery and Normalize.
		for _, v := range f.Allowed {
			q, err := ParseQuery(url.Values{f.Name: {v}})
			if err != nil || q.Filters[f.Name] != v {
				t.Errorf("%s=%s: %+v, %v", f.Name, v, q, err)
			}
		}
	}
	// The filters of the search API before the policy fields were added
	// keep their names.
	for _, name := range []string{"channel", "category", "status", "reference"} {
		if !names[name] {
			t.Errorf("filter %s is gone; the search API promised it", name)
		}
	}
	var facets []string
	for _, f := range Filters {
		if f.Facet {
			facets = append(facets, f.Name)
		}
	}
	if !slices.Equal(FacetFields, facets) {
		t.Errorf("FacetFields = %v, want %v (the filters with Facet set)", FacetFields, facets)
	}
	for _, name := range []string{"reference", "message_id", "work_order", "phone", "customer"} {
		if slices.Contains(FacetFields, name) {
			t.Errorf("%s is counted: every case or customer has its own", name)
		}
	}
}

func TestNormalizeKeepsCallersFilters(t *testing.T) {
	filters := map[string]string{"grade": " 重大 ", "queue": ""}
	before := maps.Clone(filters)
	q, err := Query{Filters: filters}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(filters, before) {
		t.Errorf("Normalize changed the caller's map to %v", filters)
	}
	if want := map[string]string{"grade": "重大"}; !maps.Equal(q.Filters, want) {
		t.Errorf("normalised filters %v, want %v", q.Filters, want)
	}
}

func TestFilterErrorMessages(t *testing.T) {
	tests := []struct {
		raw, param, message string
	}{
		{"status=done", "status", "未知的状态，可选值：open、in_progress、resolved、closed"},
		{"validity=yes", "validity", "未知的有效性，可选值：valid、invalid"},
		{"phone=1391234000", "phone", "客户电话无效：手机号码应为 11 位数字，请检查是否漏填或多填"},
	}
	for _, tc := range tests {
		values, _ := url.ParseQuery(tc.raw)
		_, err := ParseQuery(values)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != tc.param || pe.Message != tc.message {
			t.Errorf("ParseQuery(%s) error = %v, want %s: %s", tc.raw, err, tc.param, tc.message)
		}
	}
}

func TestLatestByID(t *testing.T) {
	c := func(id string, rev int64, text string) router.Case {
		return router.Case{ID: id, Revision: rev, Description: text}
	}
	got, err := LatestByID([]router.Case{c("a", 2, "a2"), c("b", 1, "b1"), c("a", 1, "a1"), c("a", 2, "a2 again"), c("b", 3, "b3")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a2 again", "b3"}
	if len(got) != 2 || got[0].Description != want[0] || got[1].Description != want[1] {
		t.Errorf("LatestByID = %+v, want %v", got, want)
	}
	for _, bad := range [][]router.Case{{c(" ", 1, "")}, {c("a", -1, "")}} {
		if _, err := LatestByID(bad); !errors.Is(err, ErrInvalidCase) {
			t.Errorf("LatestByID(%+v) = %v, want ErrInvalidCase", bad, err)
		}
	}
}

func TestKeywordsNestDottedFields(t *testing.T) {
	c := router.Case{ID: "TS1", Channel: "hotline", WorkOrders: []string{"GD1", "GD2"},
		Customer: normalize.Customer{Name: "李先生", Phone: "+8613800138000", Email: "li@example.com", Key: "phone:+8613800138000"}}
	doc := Keywords(c)
	want := map[string]any{"name": "李先生", "phone": "+8613800138000", "email": "li@example.com", "key": "phone:+8613800138000"}
	if got, _ := doc["customer"].(map[string]any); !maps.Equal(got, want) {
		t.Errorf("customer = %v, want %v", doc["customer"], want)
	}
	if got, _ := doc["work_orders"].([]string); !slices.Equal(got, []string{"GD1", "GD2"}) || doc["channel"] != "hotline" {
		t.Errorf("keywords %v", doc)
	}
	for name := range doc {
		if strings.Contains(name, ".") {
			t.Errorf("field %q is dotted, not nested", name)
		}
	}
}
