package caseindex

import (
	"errors"
	"slices"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// Filter is a keyword field of a case that searches can filter on and
// count. Filters is the one list of them: ParseQuery reads each from the URL
// parameter Name, Query.Normalize checks it, and every backend indexes,
// filters and counts it from this table, so adding a row is all a new
// filter needs. Elasticsearch adds the new field to an existing index when
// it opens it (see esindex.MappingVersion); Bleve needs a new mapping
// version, under which it rebuilds an existing index (see bleveindex).
//
// A filter matches a case when the query's value (after Parse, if the
// filter has one) equals one of the case's values exactly (no analysis,
// case-sensitive). A case without values for the field never matches a
// filter on it and is not counted in its facet.
type Filter struct {
	// Name is the URL parameter, the key in Query.Filters and the facet
	// name in Result.Facets.
	Name string
	// Field is the field of the index document; empty means Name. A dot
	// names a field of an object ("customer.phone" is the field phone of
	// the document's object customer).
	Field string
	// Label is the field's Chinese name, for error messages.
	Label string
	// Value returns the case's values of the field, without empty ones.
	Value func(c router.Case) []string
	// Facet says whether Search counts the field's values in
	// Result.Facets.
	Facet bool
	// Allowed, when not empty, lists the only values a query may ask for;
	// any other value is a *ParamError.
	Allowed []string
	// MaxBytes bounds the length of a value a query may ask for; zero
	// means MaxFilterBytes.
	MaxBytes int
	// Parse, when set, turns a query's value into the form Value gives
	// (a phone number as typed into E.164); it must return its own
	// results unchanged. Its error is the Chinese message of the
	// *ParamError.
	Parse func(v string) (string, error)
}

// maxBytes is the bound on the filter's query values.
func (f Filter) maxBytes() int {
	if f.MaxBytes > 0 {
		return f.MaxBytes
	}
	return MaxFilterBytes
}

// IndexField is the name of the filter's field in an index document.
func (f Filter) IndexField() string {
	if f.Field != "" {
		return f.Field
	}
	return f.Name
}

// The values of the validity filter.
const (
	ValidityValid   = "valid"   // 有效
	ValidityInvalid = "invalid" // 无效
)

// Filters are the keyword filters of a search, in the order errors are
// reported and facets are requested. Do not modify it at run time.
var Filters = []Filter{
	{Name: "channel", Label: "渠道", Facet: true, Value: func(c router.Case) []string { return one(string(c.Channel)) }},
	{Name: "source", Label: "来源", Facet: true, Value: func(c router.Case) []string { return one(c.Source) }},
	{Name: "category", Label: "类别", Facet: true, Value: func(c router.Case) []string { return one(c.Category) }},
	{Name: "status", Label: "状态", Facet: true, Value: func(c router.Case) []string { return one(string(c.Status)) },
		Allowed: []string{string(router.StatusOpen), string(router.StatusInProgress), string(router.StatusResolved), string(router.StatusClosed)}},
	// Field "references" is the name mapping version 1 of both backends
	// used; keeping it lets an Elasticsearch reindex copy old documents.
	{Name: "reference", Field: "references", Label: "受理编号", Value: func(c router.Case) []string { return nonEmpty(c.References) }},
	// The Message-IDs of the case's e-mail complaints, so that a reply
	// from another address is found by its In-Reply-To and References.
	{Name: "message_id", Field: "message_ids", Label: "邮件 Message-ID", MaxBytes: normalize.MaxMessageIDBytes,
		Value: func(c router.Case) []string { return nonEmpty(c.MessageIDs) }},
	{Name: "contact_type", Label: "诉求类型", Facet: true, Value: func(c router.Case) []string { return one(c.ContactType) }},
	{Name: "grade", Label: "等级", Facet: true, Value: func(c router.Case) []string { return one(c.Grade) }},
	{Name: "validity", Label: "有效性", Facet: true, Value: validity, Allowed: []string{ValidityValid, ValidityInvalid}},
	{Name: "department", Label: "部门", Facet: true, Value: func(c router.Case) []string { return one(c.Route.Department) }},
	{Name: "queue", Label: "队列", Facet: true, Value: func(c router.Case) []string { return one(c.Route.Queue) }},
	{Name: "pack", Label: "策略包", Facet: true, Value: func(c router.Case) []string { return one(c.Pack) }},
	// The agents of the case: the owner, responsible from the first take
	// on (首问责任制), and the assignee handling it now. The console
	// replaces a name such as "me" with the caller's before it asks.
	{Name: "owner", Label: "负责人", Facet: true, Value: func(c router.Case) []string { return one(c.Route.Owner) }},
	{Name: "assignee", Label: "处理人", Facet: true, Value: func(c router.Case) []string { return one(c.Assignee) }},
	// The customer, by phone number in any usual form (read by the rule
	// intake uses) or by name. Neither is a facet: a facet would list
	// the customers' personal data.
	{Name: "phone", Field: "customer.phone", Label: "客户电话", Parse: phoneE164,
		Value: func(c router.Case) []string { return one(c.Customer.Phone) }},
	{Name: "customer", Field: "customer.name", Label: "客户姓名", Value: func(c router.Case) []string { return one(c.Customer.Name) }},
	// The customer's e-mail address, and the content hashes of the
	// case's attachments: what a request to export or erase a customer's
	// personal information selects by, and what tells whether another
	// case still refers to a file.
	{Name: "email", Field: "customer.email", Label: "客户邮箱", Value: func(c router.Case) []string { return one(c.Customer.Email) }},
	{Name: "attachment", Field: "attachment_sha256", Label: "附件摘要", Value: attachmentSums},
	// What the hotline system knows the case by: its work-order numbers
	// (工单号) and business type (业务类型).
	{Name: "work_order", Field: "work_orders", Label: "工单号", Value: func(c router.Case) []string { return nonEmpty(c.WorkOrders) }},
	{Name: "business_type", Label: "业务类型", Facet: true, Value: func(c router.Case) []string { return one(c.BusinessType) }},
	// Cases whose category the pack's model was not sure of (待确认分类),
	// waiting for an agent to choose; a recategorize clears the mark.
	{Name: "category_uncertain", Label: "待确认分类", Facet: true, Value: categoryUncertain, Allowed: []string{CategoryUncertain}},
}

// CategoryUncertain is the value of the category_uncertain filter of a
// case marked category_uncertain.
const CategoryUncertain = "true"

// categoryUncertain is the category_uncertain filter's value of a case.
func categoryUncertain(c router.Case) []string {
	if c.CategoryUncertain {
		return []string{CategoryUncertain}
	}
	return nil
}

// attachmentSums are the content hashes of a case's attachments.
func attachmentSums(c router.Case) []string {
	var out []string
	for _, a := range c.Attachments {
		if a.SHA256 != "" && !slices.Contains(out, a.SHA256) {
			out = append(out, a.SHA256)
		}
	}
	return out
}

// phoneE164 reads a phone number as intake does (ingest.PhoneE164): 139
// 1234 0001, +86 139-1234-0001 and 13912340001 are all +8613912340001.
func phoneE164(v string) (string, error) {
	p, err := ingest.PhoneE164(v)
	if err != nil {
		var fe *ingest.FieldError
		if errors.As(err, &fe) {
			return "", errors.New(fe.Message)
		}
		return "", errors.New("无法识别的电话号码")
	}
	return p, nil
}

// FacetFields are the names of the filters Search counts values of, in the
// order of Filters. Derived from Filters; do not modify it.
var FacetFields = facetFields()

func facetFields() []string {
	var out []string
	for _, f := range Filters {
		if f.Facet {
			out = append(out, f.Name)
		}
	}
	return out
}

// FilterNamed returns the filter with the name.
func FilterNamed(name string) (Filter, bool) {
	i := slices.IndexFunc(Filters, func(f Filter) bool { return f.Name == name })
	if i < 0 {
		return Filter{}, false
	}
	return Filters[i], true
}

// one is the single value v, or none when it is empty.
func one(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// nonEmpty are the values without the empty ones.
func nonEmpty(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// validity is "valid" or "invalid" for a case a policy pack decided. A case
// without pack and without a verdict (one written before the policy
// engine) has no validity rather than a false "invalid".
func validity(c router.Case) []string {
	switch {
	case c.Validity.Valid:
		return []string{ValidityValid}
	case c.Pack != "" || c.Validity.Reason != "" || c.Validity.Basis != "":
		return []string{ValidityInvalid}
	}
	return nil
}
