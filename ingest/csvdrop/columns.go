package csvdrop

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/tousu/tousu/ingest"
)

// Field is a complaint field a column can be mapped to.
type Field string

// The fields columns are mapped to. Phone and Description are required:
// a file without a column for each is rejected as a whole.
const (
	FieldPhone        Field = "phone"
	FieldDescription  Field = "description"
	FieldReceivedAt   Field = "received_at"
	FieldSourceID     Field = "source_id"
	FieldName         Field = "name"
	FieldSubject      Field = "subject"
	FieldBusinessType Field = "business_type"
	FieldRegion       Field = "region"
	FieldAgentID      Field = "agent_id"
	FieldPriority     Field = "priority"
)

// Fields lists every field in the order columns are claimed: a header
// cell that is an alias of two fields belongs to the earlier one (the
// configuration forbids that, but a header may repeat a name).
var Fields = []Field{
	FieldPhone, FieldDescription, FieldReceivedAt, FieldSourceID, FieldName,
	FieldSubject, FieldBusinessType, FieldRegion, FieldAgentID, FieldPriority,
}

// RequiredFields are the fields a file must have a column for. The hotline
// always knows the caller's number, and a complaint without text is none.
var RequiredFields = []Field{FieldPhone, FieldDescription}

// Extra keys under which the optional hint columns reach the envelope,
// plus the keys that trace a row back to its file.
const (
	ExtraBusinessType = ingest.ExtraBusinessType
	ExtraRegion       = "region"
	ExtraAgentID      = "agent_id"
	ExtraPriority     = "priority_hint"
	ExtraFile         = "csv_file"
	ExtraRow          = "csv_row"
	// ExtraReceivedRaw holds a receive time that could not be read (the
	// envelope then carries the file's modification time).
	ExtraReceivedRaw = "received_at_raw"
	// ExtraSourceIDRaw holds a work-order number that Excel turned into
	// scientific notation (1.23E+17); it is not used as the id.
	ExtraSourceIDRaw = "source_id_raw"
	// ExtraPhoneOther holds further numbers of a phone cell that listed
	// several ("13800138000/010-12345678").
	ExtraPhoneOther = "phone_other"
)

// hintExtra maps the optional hint fields to their Extra keys.
var hintExtra = map[Field]string{
	FieldBusinessType: ExtraBusinessType,
	FieldRegion:       ExtraRegion,
	FieldAgentID:      ExtraAgentID,
	FieldPriority:     ExtraPriority,
}

// fieldLabels name the fields for operators (rejection reasons).
var fieldLabels = map[Field]string{
	FieldPhone:        "来电号码",
	FieldDescription:  "投诉内容",
	FieldReceivedAt:   "受理时间",
	FieldSourceID:     "工单号",
	FieldName:         "客户姓名",
	FieldSubject:      "标题",
	FieldBusinessType: "业务类型",
	FieldRegion:       "地区",
	FieldAgentID:      "坐席工号",
	FieldPriority:     "优先级",
}

// DefaultAliases returns the header names each field is recognised by, in
// order of preference. Matching ignores whitespace, a BOM, full-width
// forms, Latin case, a trailing "*" or colon, and a parenthesised suffix
// ("联系电话（手机）" matches 联系电话). 序号 and 编号 are deliberately not
// source-id aliases: they are usually per-export counters.
func DefaultAliases() map[Field][]string {
	return map[Field][]string{
		FieldPhone: {"来电号码", "主叫号码", "联系电话", "手机号", "手机号码", "来电电话", "客户电话", "联系号码",
			"电话号码", "电话", "联系方式", "phone", "mobile", "caller", "calling_number", "ani"},
		FieldDescription: {"投诉内容", "问题描述", "来电内容", "诉求", "诉求内容", "来电诉求", "反映内容", "反映问题",
			"工单内容", "详细描述", "内容", "描述", "description", "content", "complaint"},
		FieldReceivedAt: {"受理时间", "来电时间", "创建时间", "登记时间", "呼入时间", "接听时间", "投诉时间", "工单创建时间",
			"received_at", "created_at", "call_time", "time"},
		FieldSourceID: {"工单号", "工单编号", "流水号", "受理编号", "受理号", "投诉单号", "投诉编号", "服务单号", "来电流水号",
			"ticket_id", "ticket_no", "work_order", "case_id"},
		FieldName:         {"客户姓名", "联系人", "姓名", "来电人", "来电人姓名", "客户名称", "用户姓名", "投诉人", "name", "customer"},
		FieldSubject:      {"标题", "主题", "工单标题", "投诉标题", "投诉主题", "摘要", "subject", "title"},
		FieldBusinessType: {"业务类型", "业务分类", "投诉类型", "问题分类", "工单类型", "诉求类型", "业务类别", "business_type", "category"},
		FieldRegion:       {"地区", "区域", "所属地区", "所属区域", "地市", "归属地", "region", "area"},
		FieldAgentID:      {"坐席工号", "话务员", "坐席", "坐席号", "受理坐席", "受理人", "话务员工号", "工号", "agent_id", "agent"},
		FieldPriority:     {"优先级", "紧急程度", "紧急度", "重要程度", "priority", "urgency"},
	}
}

// resolveAliases returns the effective aliases: the defaults with the
// configured fields replaced. It rejects unknown fields, empty aliases and
// an alias claimed by two fields.
func resolveAliases(columns map[string][]string) (map[Field][]string, error) {
	out := DefaultAliases()
	var errs []error
	for key, list := range columns {
		f := Field(key)
		if !slices.Contains(Fields, f) {
			errs = append(errs, fmt.Errorf("unknown field %q (known: %s)", key, joinFields(Fields)))
			continue
		}
		if len(list) == 0 {
			errs = append(errs, fmt.Errorf("%s: at least one column name is required", key))
			continue
		}
		for _, a := range list {
			if NormalizeHeader(a) == "" {
				errs = append(errs, fmt.Errorf("%s: empty column name", key))
			}
		}
		out[f] = slices.Clone(list)
	}
	owner := map[string]Field{}
	for _, f := range Fields {
		for _, a := range out[f] {
			n := NormalizeHeader(a)
			if o, ok := owner[n]; ok && o != f {
				errs = append(errs, fmt.Errorf("column name %q is listed for both %s and %s", a, o, f))
			}
			owner[n] = f
		}
	}
	return out, errors.Join(errs...)
}

func joinFields(fs []Field) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// NormalizeHeader folds a header cell for matching: NFKC (full-width forms
// and parentheses to ASCII), no BOM, zero-width or white space, lower-case
// Latin letters, and no leading "*" or trailing "*", ":".
func NormalizeHeader(s string) string {
	s = norm.NFKC.String(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\ufeff' || r == '\u200b' || r == '\u200c' || r == '\u200d' || unicode.IsSpace(r):
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return strings.TrimRight(strings.TrimLeft(b.String(), "*"), "*:")
}

// headerBase drops a parenthesised suffix: "联系电话(手机)" → "联系电话".
func headerBase(n string) string {
	for _, open := range []string{"(", "[", "【"} {
		if i := strings.Index(n, open); i > 0 {
			return n[:i]
		}
	}
	return n
}

// Header is the column layout of one file: which columns feed which field.
// It is immutable once built and safe for concurrent use.
type Header struct {
	cells []string
	cols  map[Field][]int
}

// MissingColumnsError says that a header lacks required columns.
type MissingColumnsError struct {
	// Have are the header cells found, as written.
	Have []string
	// Missing are the required fields without a column.
	Missing []Field
	// Aliases are the names each missing field is recognised by.
	Aliases map[Field][]string
}

// Error implements error.
func (e *MissingColumnsError) Error() string {
	var miss []string
	for _, f := range e.Missing {
		miss = append(miss, fmt.Sprintf("%s (one of %s)", f, strings.Join(e.Aliases[f], ", ")))
	}
	return fmt.Sprintf("missing required columns: %s; the file has: %s", strings.Join(miss, "; "), strings.Join(e.Have, ", "))
}

// Reason says the same for operators, in Simplified Chinese.
func (e *MissingColumnsError) Reason() string {
	var miss []string
	for _, f := range e.Missing {
		miss = append(miss, fmt.Sprintf("%s（可用列名：%s）", fieldLabels[f], strings.Join(e.Aliases[f], "、")))
	}
	have := "（无）"
	if len(e.Have) > 0 {
		have = strings.Join(e.Have, "、")
	}
	return fmt.Sprintf("缺少必需的列：%s。文件中的列：%s。请在导出时包含这些列，或在配置的 columns 中添加列名。", strings.Join(miss, "；"), have)
}

// MapHeader maps the cells of a header record to fields by aliases (nil
// means DefaultAliases). Exact matches (after NormalizeHeader) come before
// matches of a cell without its parenthesised suffix; within each, alias
// order is preference order. The error is a *MissingColumnsError when a
// required field has no column; the Header is returned anyway.
func MapHeader(cells []string, aliases map[Field][]string) (*Header, error) {
	if aliases == nil {
		aliases = DefaultAliases()
	}
	h := &Header{cells: make([]string, len(cells)), cols: map[Field][]int{}}
	norms := make([]string, len(cells))
	bases := make([]string, len(cells))
	for i, c := range cells {
		h.cells[i] = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		norms[i] = NormalizeHeader(c)
		bases[i] = headerBase(norms[i])
	}
	taken := make([]bool, len(cells))
	for _, pass := range [][]string{norms, bases} {
		for _, f := range Fields {
			for _, a := range aliases[f] {
				na := NormalizeHeader(a)
				for i := range cells {
					if !taken[i] && na != "" && pass[i] == na {
						taken[i] = true
						h.cols[f] = append(h.cols[f], i)
					}
				}
			}
		}
	}
	var missing []Field
	for _, f := range RequiredFields {
		if len(h.cols[f]) == 0 {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		have := make([]string, 0, len(h.cells))
		for _, c := range h.cells {
			if c != "" {
				have = append(have, c)
			}
		}
		return h, &MissingColumnsError{Have: have, Missing: missing, Aliases: aliases}
	}
	return h, nil
}

// matched is how many fields have a column, for choosing among candidate
// header records.
func (h *Header) matched() int { return len(h.cols) }

// Cells returns the header cells as written (trimmed, without a BOM).
func (h *Header) Cells() []string { return slices.Clone(h.cells) }

// Column returns the name of the preferred column of f.
func (h *Header) Column(f Field) (string, bool) {
	if c := h.cols[f]; len(c) > 0 {
		return h.cells[c[0]], true
	}
	return "", false
}

// Columns returns the preferred column name of every mapped field.
func (h *Header) Columns() map[string]string {
	out := make(map[string]string, len(h.cols))
	for f := range h.cols {
		out[string(f)], _ = h.Column(f)
	}
	return out
}

// Value returns the first non-empty (trimmed) cell of f's columns in
// record; cells missing from a short record count as empty.
func (h *Header) Value(record []string, f Field) string {
	for _, i := range h.cols[f] {
		if i < len(record) {
			if v := strings.TrimSpace(record[i]); v != "" {
				return v
			}
		}
	}
	return ""
}

// label names f for a rejection reason: its column in this file, else
// the field's Chinese name.
func (h *Header) label(f Field) string {
	if c, ok := h.Column(f); ok && c != "" {
		return c
	}
	return fieldLabels[f]
}
