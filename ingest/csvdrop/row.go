package csvdrop

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
)

// earliestReceived is the earliest receive time taken from a file; older
// values (a stray Excel serial, a year typo) fall back to the file's
// modification time.
var earliestReceived = time.Date(2000, 1, 1, 0, 0, 0, 0, Shanghai)

// RowParser turns the data records of one file into envelopes. It holds
// what ids and fallbacks need to know about the file; it is pure (no I/O)
// and safe for concurrent use.
type RowParser struct {
	// Header is the file's column layout.
	Header *Header
	// Source is the folder name: the envelope Source and part of ids.
	Source string
	// References derives the rows' reference numbers from their ids.
	References ingest.References
	// FileName is the file's name, recorded in Extra.
	FileName string
	// FileHash is the hex SHA-256 of the file's bytes; rows without a
	// work-order number are identified by it and their row number.
	FileHash string
	// ModTime is the file's modification time, the receive time of rows
	// whose own cannot be read.
	ModTime time.Time
	// Now bounds plausible receive times (at most a day ahead); nil means
	// time.Now.
	Now func() time.Time
	// Intake is the contact rule the caller's number must meet.
	Intake ingest.Config
}

// RowResult is one parsed record.
type RowResult struct {
	// Envelope is the complaint; its ID and Reference are set even when
	// the row is invalid.
	Envelope ingest.Envelope
	// Empty reports a record whose cells are all blank; it is skipped,
	// neither published nor rejected.
	Empty bool
	// Problems are why the row cannot be taken; empty means valid.
	Problems []ingest.FieldError
	// ReceivedFallback reports that the receive time is the file's
	// modification time because the row had none that could be read.
	ReceivedFallback bool
	// SourceIDIgnored reports a work-order number in scientific notation,
	// not used as the id.
	SourceIDIgnored bool
}

// Reason joins the problems for an operator, naming the file's columns:
// "来电号码：无法识别“62345678”：请填写带区号的固定电话…；…".
func (r RowResult) Reason() string {
	parts := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		parts[i] = p.Message
		if p.Field != "" {
			parts[i] = p.Field + "：" + p.Message
		}
	}
	return strings.Join(parts, "；")
}

// Parse maps one data record (row is its row number in the file, as a
// spreadsheet counts rows, the header included) to an envelope and checks
// it with the intake rule (ingest.Config.Check). Problems name the file's own columns.
func (p *RowParser) Parse(row int, record []string) RowResult {
	h := p.Header
	var res RowResult
	if blank(record) {
		res.Empty = true
		return res
	}
	env := ingest.Envelope{
		V:           ingest.SchemaVersion,
		Channel:     ingest.ChannelHotline,
		Source:      p.Source,
		Name:        h.Value(record, FieldName),
		Subject:     h.Value(record, FieldSubject),
		Description: h.Value(record, FieldDescription),
		Extra:       map[string]string{ExtraFile: p.FileName, ExtraRow: strconv.Itoa(row)},
	}
	for f, key := range hintExtra {
		if v := h.Value(record, f); v != "" {
			env.Extra[key] = v
		}
	}

	phone, others := SplitPhone(h.Value(record, FieldPhone), p.Intake)
	env.Phone = phone
	if len(others) > 0 {
		env.Extra[ExtraPhoneOther] = strings.Join(others, " ")
	}

	if raw := h.Value(record, FieldSourceID); raw != "" {
		id, ok := CleanSourceID(raw)
		if ok {
			env.SourceID = id
		} else {
			env.Extra[ExtraSourceIDRaw] = raw
			res.SourceIDIgnored = true
		}
	}
	if env.SourceID != "" {
		env.ID = ingest.NewID(ingest.ChannelHotline, p.Source, env.SourceID)
	} else {
		env.ID = ingest.NewID(ingest.ChannelHotline, p.Source, ingest.ContentKey(p.FileHash, strconv.Itoa(row)))
	}
	env.Reference = p.References.For(env.ID)

	raw := h.Value(record, FieldReceivedAt)
	t, ok := ParseTime(raw, Shanghai)
	if ok && (t.Before(earliestReceived) || t.After(p.now().Add(24*time.Hour))) {
		ok = false
	}
	if ok {
		env.ReceivedAt = t
	} else {
		env.ReceivedAt = p.ModTime
		res.ReceivedFallback = true
		if raw != "" {
			env.Extra[ExtraReceivedRaw] = raw
		}
	}

	res.Envelope = env
	res.Problems = p.check(&env, phone)
	return res
}

func (p *RowParser) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// check validates env like every channel does, with hotline wording for a
// missing or mangled phone number: the hotline always has the caller's
// number, so a row without a readable one is rejected, not guessed.
func (p *RowParser) check(env *ingest.Envelope, phone string) []ingest.FieldError {
	h := p.Header
	var out []ingest.FieldError
	for _, fe := range p.Intake.Check(env) {
		switch fe.Field {
		case "phone":
			fe.Field = h.label(FieldPhone)
			switch {
			case strings.TrimSpace(phone) == "":
				fe.Message = "为空：热线工单必须有来电号码"
			case isScientific(phone):
				fe.Message = fmt.Sprintf("“%s”被 Excel 转成了科学计数法，号码已丢失：请把该列设为文本后重新导出", phone)
			default:
				fe.Message = fmt.Sprintf("无法识别“%s”：%s", clip(phone, 40), fe.Message)
			}
		case "description":
			fe.Field = h.label(FieldDescription)
		case "name":
			fe.Field = h.label(FieldName)
		case "subject":
			fe.Field = h.label(FieldSubject)
		}
		out = append(out, fe)
	}
	return out
}

// blank reports a record whose cells are all white space.
func blank(record []string) bool {
	for _, c := range record {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// clip shortens s to at most n runes for a message.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
