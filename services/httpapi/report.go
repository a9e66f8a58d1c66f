package httpapi

// This file is the SLA report (GET PathReportSLA) for the API and the
// console's report page: the figures of caseindex.BuildSLA as JSON, or as
// the table a complaint office files monthly, in CSV or XLSX. A report
// holds counts, rates and durations by category, department, channel or
// pack: no customer's data, so there is nothing to mask.

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/xuri/excelize/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/sinks/caseindex"
)

// PathReportSLA is the API's SLA report.
const PathReportSLA = "/api/v1/reports/sla"

// The formats of an SLA report.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// ParseReport reads an SLA report's query parameters (see
// caseindex.ParseSLAQuery, and format: json, csv or xlsx, default json)
// for p: scoped as p's searches are. Every error is a
// *caseindex.ParamError.
func ParseReport(values url.Values, p Principal, now time.Time) (caseindex.SLAQuery, string, error) {
	q, err := caseindex.ParseSLAQuery(values, now, "format")
	if err != nil {
		return caseindex.SLAQuery{}, "", err
	}
	format := values.Get("format")
	switch format {
	case "":
		format = FormatJSON
	case FormatJSON, FormatCSV, FormatXLSX:
	default:
		return caseindex.SLAQuery{}, "", &caseindex.ParamError{Param: "format", Message: "未知的格式，可选值：json、csv、xlsx"}
	}
	q.Scope = p.Scope()
	return q, format, nil
}

// SLAGroupLabels name a report's groupings in Chinese.
var SLAGroupLabels = map[string]string{"category": "类别", "department": "部门", "channel": "渠道", "pack": "策略包"}

// SLAIntervalLabels name a report's trend intervals in Chinese.
var SLAIntervalLabels = map[string]string{"day": "按日", "week": "按周", "month": "按月"}

// SLAColumns are the header of a report's table after the group's column.
var SLAColumns = []string{"受理量", "有效", "无效", "办结", "按时办结", "及时率", "超时",
	"平均答复时长（工作小时）", "P90答复时长（工作小时，不超过）", "平均办结时长（工作小时）", "P90办结时长（工作小时，不超过）",
	"重复投诉", "重复投诉率", "批量事件", "回访", "满意", "满意率"}

// SLACell is one cell of a report's table: a count, a rate (0–1, shown as
// a percentage), a number of hours, or text; Empty for a rate or time
// without cases to take it from.
type SLACell struct {
	Value   float64
	Rate    bool
	Hours   bool
	Text    string
	IsText  bool
	IsEmpty bool
}

// String is the cell as the page and the CSV show it.
func (c SLACell) String() string {
	switch {
	case c.IsEmpty:
		return "—"
	case c.IsText:
		return c.Text
	case c.Rate:
		return strconv.FormatFloat(c.Value*100, 'f', 1, 64) + "%"
	case c.Hours:
		return strconv.FormatFloat(c.Value, 'f', 1, 64)
	}
	return strconv.FormatFloat(c.Value, 'f', -1, 64)
}

// SLARow is the cells of f under SLAColumns.
func SLARow(f caseindex.Figures) []SLACell {
	count := func(n int) SLACell { return SLACell{Value: float64(n)} }
	rate := func(r *float64) SLACell {
		if r == nil {
			return SLACell{IsEmpty: true}
		}
		return SLACell{Value: *r, Rate: true}
	}
	avg := func(d caseindex.Durations) SLACell {
		if d.Count == 0 {
			return SLACell{IsEmpty: true}
		}
		return SLACell{Value: d.AvgHours, Hours: true}
	}
	p90 := func(d caseindex.Durations) SLACell {
		switch {
		case d.P90Over:
			return SLACell{IsText: true, Text: "超过 " + strconv.FormatFloat(caseindex.DurationEdges[len(caseindex.DurationEdges)-1], 'f', -1, 64)}
		case d.P90Hours == nil:
			return SLACell{IsEmpty: true}
		}
		return SLACell{Value: *d.P90Hours}
	}
	return []SLACell{count(f.Received), count(f.Valid), count(f.Invalid), count(f.Resolved), count(f.ResolvedOnTime),
		rate(f.OnTimeRate), count(f.Breached), avg(f.Reply), p90(f.Reply), avg(f.Resolve), p90(f.Resolve),
		count(f.Repeats), rate(f.RepeatRate), count(f.Batches), count(f.FollowUps), count(f.Satisfied), rate(f.SatisfiedRate)}
}

// SLAGroupName is how a report names a group's key: a channel by its
// Chinese name, the whole period as 合计.
func SLAGroupName(groupBy, key string) string {
	switch {
	case key == "":
		return "合计"
	case groupBy == "channel":
		return ChannelLabel(ingest.Channel(key))
	}
	return key
}

// slaTables are the sheets of a report: the groups with the total last,
// and the trend.
func slaTables(r caseindex.SLAReport) (groups, trend [][]string, groupCells, trendCells [][]SLACell) {
	head := func(first string) []string { return append([]string{first}, SLAColumns...) }
	groups = [][]string{head(SLAGroupLabels[r.GroupBy])}
	for _, f := range append(r.Groups, r.Total) {
		groups = append(groups, []string{SafeCell(SLAGroupName(r.GroupBy, f.Key))})
		groupCells = append(groupCells, SLARow(f))
	}
	trend = [][]string{head("期间（起始日）")}
	for _, f := range r.Trend {
		trend = append(trend, []string{f.Key})
		trendCells = append(trendCells, SLARow(f))
	}
	return groups, trend, groupCells, trendCells
}

// WriteSLACSV writes the report's groups and total as CSV: UTF-8 with a
// byte-order mark, so that Excel reads the Chinese, a title line naming
// the period, the Chinese header, one row per group and 合计 last.
func WriteSLACSV(w io.Writer, r caseindex.SLAReport) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	groups, _, cells, _ := slaTables(r)
	cw.Write([]string{slaTitle(r)})
	cw.Write(groups[0])
	for i, row := range groups[1:] {
		for _, c := range cells[i] {
			row = append(row, c.String())
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// slaTitle names the report and its period.
func slaTitle(r caseindex.SLAReport) string {
	return fmt.Sprintf("投诉处理时效统计（%s 至 %s，按%s）", r.From, r.To, SLAGroupLabels[r.GroupBy])
}

// WriteSLAXLSX writes the report as an XLSX workbook: the sheet 时效统计
// with the title, the header and a row per group and 合计, numbers as
// numbers (rates formatted as percentages), and the sheet 趋势 with the
// same columns per period.
func WriteSLAXLSX(w io.Writer, r caseindex.SLAReport) error {
	f := excelize.NewFile()
	defer f.Close()
	groups, trend, groupCells, trendCells := slaTables(r)
	pct, err := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
	if err != nil {
		return err
	}
	hours, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("0.0")})
	if err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	sheet := func(name, title string, rows [][]string, cells [][]SLACell) error {
		first := 2
		if title != "" {
			if err := f.SetCellStr(name, "A1", title); err != nil {
				return err
			}
			first = 3
		}
		if err := f.SetSheetRow(name, cellName(1, first-1), &rows[0]); err != nil {
			return err
		}
		if err := f.SetRowStyle(name, first-1, first-1, bold); err != nil {
			return err
		}
		for i, row := range rows[1:] {
			y := first + i
			if err := f.SetCellStr(name, cellName(1, y), row[0]); err != nil {
				return err
			}
			for j, c := range cells[i] {
				axis := cellName(j+2, y)
				switch {
				case c.IsEmpty || c.IsText:
					err = f.SetCellStr(name, axis, c.String())
				default:
					err = f.SetCellFloat(name, axis, c.Value, -1, 64)
				}
				if err == nil && c.Rate {
					err = f.SetCellStyle(name, axis, axis, pct)
				}
				if err == nil && c.Hours {
					err = f.SetCellStyle(name, axis, axis, hours)
				}
				if err != nil {
					return err
				}
			}
		}
		return f.SetColWidth(name, "A", cellCol(len(rows[0])), 14)
	}
	if err := f.SetSheetName("Sheet1", "时效统计"); err != nil {
		return err
	}
	if err := sheet("时效统计", slaTitle(r), groups, groupCells); err != nil {
		return err
	}
	if _, err := f.NewSheet("趋势"); err != nil {
		return err
	}
	if err := sheet("趋势", "", trend, trendCells); err != nil {
		return err
	}
	return f.Write(w)
}

func ptr[T any](v T) *T { return &v }

func cellName(col, row int) string {
	name, _ := excelize.CoordinatesToCellName(col, row)
	return name
}

func cellCol(col int) string {
	name, _ := excelize.ColumnNumberToName(col)
	return name
}

// SendSLA answers report r in format (FormatCSV or FormatXLSX as an
// attachment named after its period, FormatJSON as it is).
func SendSLA(c *fiber.Ctx, r caseindex.SLAReport, format string) error {
	var buf bytes.Buffer
	var err error
	name := fmt.Sprintf("tousu-sla-%s-%s.%s", r.From, r.To, format)
	switch format {
	case FormatCSV:
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		err = WriteSLACSV(&buf, r)
	case FormatXLSX:
		c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		err = WriteSLAXLSX(&buf, r)
	default:
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(r)
	}
	if err != nil {
		return fmt.Errorf("write the SLA report as %s: %w", format, err)
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"; filename*=UTF-8''`+url.PathEscape("投诉时效统计-"+name))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(buf.Bytes())
}

// Reports serves the SLA report API over the case index.
type Reports struct {
	index  caseindex.Index
	auth   *Authenticator
	logger *zap.Logger
	now    func() time.Time
}

// NewReports returns the report API; logger should carry a component
// field.
func NewReports(index caseindex.Index, auth *Authenticator, logger *zap.Logger) *Reports {
	return &Reports{index: index, auth: auth, logger: logger, now: time.Now}
}

// Mount registers GET PathReportSLA for the roles that may read reports
// (Role.MayReport).
func (rp *Reports) Mount(app fiber.Router) {
	app.Get(PathReportSLA, rp.auth.Require(Role.MayReport), rp.sla)
}

// sla answers PathReportSLA: 400 with the parameter at fault, 503 when the
// index does not answer.
func (rp *Reports) sla(c *fiber.Ctx) error {
	values := url.Values{}
	c.Context().QueryArgs().VisitAll(func(key, value []byte) { values.Add(string(key), string(value)) })
	q, format, err := ParseReport(values, PrincipalOf(c), rp.now())
	if err != nil {
		body := fiber.Map{"error": err.Error(), "code": "bad_query", "message": "查询条件无效"}
		var pe *caseindex.ParamError
		if errors.As(err, &pe) {
			body["param"], body["message"] = pe.Param, pe.Message
		}
		return c.Status(fiber.StatusBadRequest).JSON(body)
	}
	r, err := caseindex.BuildSLA(c.UserContext(), rp.index, q)
	if err != nil {
		rp.logger.Error("SLA report failed", zap.Error(err))
		return fail(c, fiber.StatusServiceUnavailable, errIndex)
	}
	if err := SendSLA(c, r, format); err != nil {
		rp.logger.Error("SLA report not sent", zap.Error(err))
		return fail(c, fiber.StatusInternalServerError, apiError{Error: "the report could not be written", Code: "report_failed", Message: "报表生成失败，请稍后重试"})
	}
	return nil
}
