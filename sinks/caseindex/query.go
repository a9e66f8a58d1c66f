package caseindex

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidCase is wrapped by Upsert errors for a case no index can store
// (for example one without an ID). Retrying such a batch cannot succeed;
// the caller should set the case aside instead.
var ErrInvalidCase = errors.New("invalid case")

// Limits of a search.
const (
	// DefaultLimit is the page size when Query.Limit is zero.
	DefaultLimit = 20
	// MaxWindow bounds Offset+Limit, so that deep pages cost the same on
	// every backend (Elasticsearch refuses more by default).
	MaxWindow = 10000
	// MaxTextBytes bounds the length of Query.Text.
	MaxTextBytes = 1000
	// MaxFilterBytes bounds the length of each term filter whose
	// Filter.MaxBytes is zero.
	MaxFilterBytes = 200
)

// chinaTime is the zone dates without a time of day are read in: China
// Standard Time, which has no daylight saving.
var chinaTime = time.FixedZone("CST", 8*60*60)

// ParamError says which search parameter is invalid and why. Param is the
// name of the URL query parameter; Message is in Simplified Chinese so the
// agent console can show it as it is.
type ParamError struct {
	Param   string `json:"param"`
	Message string `json:"message"`
}

// Error implements error.
func (e *ParamError) Error() string {
	return "invalid search parameter " + e.Param + ": " + e.Message
}

func paramErr(param, format string, args ...any) *ParamError {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// ParseQuery reads the search API's URL query parameters into a Query:
//
//	q           text matched against subject and description: its terms,
//	            a quoted part as an exact phrase (see Query.Text)
//	channel, source, category, status, reference, message_id,
//	contact_type, grade, validity, department, queue, pack, owner,
//	assignee, phone, customer, work_order, business_type
//	            exact filters, one parameter per name of Filters; status
//	            is open, in_progress, resolved or closed, validity is
//	            valid or invalid, phone is a phone number in any form
//	            intake takes
//	from, to    received_at in [from, to); RFC 3339, or a date 2006-01-02
//	            in China Standard Time, where to=2024-05-01 includes that day
//	due_before  deadline before this instant; RFC 3339 or a date, meaning
//	            the start of that day
//	sort        relevance, deadline, received_at or -received_at
//	offset      0 or more
//	limit       1 to MaxLimit (default DefaultLimit)
//
// An unknown parameter (a misspelt filter, or one this version does not
// have) is a *ParamError naming it and listing the known ones, rather than
// being ignored: ignoring it would answer every case. Every error is a
// *ParamError. The result has been through Normalize.
func ParseQuery(values url.Values) (Query, error) {
	if err := checkParams(values); err != nil {
		return Query{}, err
	}
	var q Query
	get := func(name string) (string, error) {
		vs := values[name]
		switch {
		case len(vs) == 0:
			return "", nil
		case len(vs) > 1:
			return "", paramErr(name, "参数只能出现一次")
		}
		return strings.TrimSpace(vs[0]), nil
	}
	text := func(name string, max int, dst *string) error {
		v, err := get(name)
		if err != nil {
			return err
		}
		if err := checkText(name, v, max); err != nil {
			return err
		}
		*dst = v
		return nil
	}
	instant := func(name string, endOfDay bool, dst *time.Time) error {
		v, err := get(name)
		if err != nil || v == "" {
			return err
		}
		t, err := parseInstant(v, endOfDay)
		if err != nil {
			return paramErr(name, "时间格式无效，请使用 2006-01-02 或 RFC 3339 格式（如 2006-01-02T15:04:05+08:00）")
		}
		*dst = t
		return nil
	}
	number := func(name string, dst *int) error {
		v, err := get(name)
		if err != nil || v == "" {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return paramErr(name, "必须是整数")
		}
		*dst = n
		return nil
	}

	var sort string
	steps := []error{text("q", MaxTextBytes, &q.Text)}
	q.Filters = make(map[string]string, len(Filters)) // Normalize drops the empty ones
	for _, f := range Filters {
		var v string
		steps = append(steps, text(f.Name, f.maxBytes(), &v))
		q.Filters[f.Name] = v
	}
	steps = append(steps,
		text("sort", MaxFilterBytes, &sort),
		instant("from", false, &q.From),
		instant("to", true, &q.To),
		instant("due_before", false, &q.DueBefore),
		number("offset", &q.Offset),
		number("limit", &q.Limit),
	)
	for _, err := range steps {
		if err != nil {
			return Query{}, err
		}
	}
	q.Sort = sort
	if q.Limit == 0 && values.Has("limit") {
		return Query{}, paramErr("limit", "必须在 1 到 %d 之间", MaxLimit)
	}
	if q.Limit > MaxLimit {
		return Query{}, paramErr("limit", "必须在 1 到 %d 之间", MaxLimit)
	}
	return q.Normalize()
}

// searchParams are the URL parameters of a search other than the filters,
// in the order ParseQuery reads them.
var searchParams = []string{"q", "sort", "from", "to", "due_before", "offset", "limit"}

// Params returns the names of every URL parameter ParseQuery reads: the
// search parameters and one per filter.
func Params() []string {
	names := slices.Clone(searchParams)
	for _, f := range Filters {
		names = append(names, f.Name)
	}
	return names
}

// checkParams returns a *ParamError for the first unknown parameter name
// (in byte order, so the same one every time).
func checkParams(values url.Values) error {
	known := Params()
	var unknown []string
	for name := range values {
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return unknownParam(unknown[0], known)
}

// unknownParam is the error for a parameter or filter name that is none of
// known.
func unknownParam(name string, known []string) *ParamError {
	return paramErr(name, "未知的查询参数“%s”，可用的参数：%s", name, strings.Join(known, "、"))
}

// checkText rejects text that is not UTF-8, too long or holds control
// characters.
func checkText(name, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return paramErr(name, "包含无法识别的字符，请使用 UTF-8 编码")
	case len(v) > max:
		return paramErr(name, "内容过长，最多 %d 字节", max)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return paramErr(name, "包含控制字符")
	}
	return nil
}

// parseInstant reads RFC 3339 or a bare date in China Standard Time. With
// endOfDay a bare date means the start of the next day, so that an
// exclusive upper bound includes the whole named day.
func parseInstant(v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	// An unescaped "+08:00" arrives as " 08:00" from a URL query.
	if t, err := time.Parse(time.RFC3339, strings.Replace(v, " ", "+", 1)); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, v, chinaTime)
	if err != nil {
		return time.Time{}, err
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// Normalize returns q with its defaults filled in, or a *ParamError when no
// backend can serve it. Text and filter values are trimmed and filters with
// an empty value dropped (Filters becomes nil when none is left; the
// caller's map is not changed); Limit 0 becomes DefaultLimit and a Limit
// above MaxLimit becomes MaxLimit; an empty Sort becomes SortRelevance when
// Text is set and SortNewest otherwise. Every filter name must be one of
// Filters and its value one of the filter's Allowed values, if it has any;
// Offset and Limit must not be negative and Offset+Limit must not exceed
// MaxWindow; From must be before To; times must lie between the years 1700
// and 2200. Backends call Normalize at the start of Search.
func (q Query) Normalize() (Query, error) {
	q.Text = strings.TrimSpace(q.Text)
	q.Sort = strings.TrimSpace(q.Sort)
	if err := checkText("q", q.Text, MaxTextBytes); err != nil {
		return Query{}, err
	}
	filters, err := normalizeFilters(q.Filters)
	if err != nil {
		return Query{}, err
	}
	q.Filters = filters
	switch q.Sort {
	case "":
		q.Sort = SortNewest
		if q.Text != "" {
			q.Sort = SortRelevance
		}
	case SortRelevance, SortNewest, SortOldest, SortDeadline:
	default:
		return Query{}, paramErr("sort", "未知的排序方式，可选值：%s、%s、%s、%s",
			SortRelevance, SortDeadline, SortOldest, SortNewest)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"from", q.From}, {"to", q.To}, {"due_before", q.DueBefore}} {
		if !f.t.IsZero() && (f.t.Year() < 1700 || f.t.Year() > 2200) {
			return Query{}, paramErr(f.name, "时间超出可查询范围（1700 年至 2200 年）")
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return Query{}, paramErr("to", "结束时间必须晚于开始时间")
	}
	if q.Offset < 0 {
		return Query{}, paramErr("offset", "不能为负数")
	}
	switch {
	case q.Limit < 0:
		return Query{}, paramErr("limit", "必须在 1 到 %d 之间", MaxLimit)
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	if q.Offset > MaxWindow-q.Limit {
		return Query{}, paramErr("offset", "翻页过深：offset 与 limit 之和不能超过 %d，请缩小查询范围", MaxWindow)
	}
	return q, nil
}

// normalizeFilters returns a trimmed copy of filters without empty values,
// nil when none is left, or a *ParamError for an unknown name or a value
// that is not allowed.
func normalizeFilters(filters map[string]string) (map[string]string, error) {
	if len(filters) == 0 {
		return nil, nil
	}
	var unknown []string
	for name := range filters {
		if _, ok := FilterNamed(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown) // report the same one every time
		names := make([]string, len(Filters))
		for i, f := range Filters {
			names[i] = f.Name
		}
		return nil, unknownParam(unknown[0], names)
	}
	var out map[string]string
	for _, f := range Filters {
		v := strings.TrimSpace(filters[f.Name])
		if err := checkText(f.Name, v, f.maxBytes()); err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		if len(f.Allowed) > 0 && !slices.Contains(f.Allowed, v) {
			return nil, paramErr(f.Name, "未知的%s，可选值：%s", f.Label, strings.Join(f.Allowed, "、"))
		}
		if f.Parse != nil {
			parsed, err := f.Parse(v)
			if err != nil {
				return nil, paramErr(f.Name, "%s无效：%s", f.Label, err.Error())
			}
			v = parsed
		}
		if out == nil {
			out = make(map[string]string, len(filters))
		}
		out[f.Name] = v
	}
	return out, nil
}
