package console

// The SLA report page (GET /console/reports, supervisors and admins): the
// period and grouping choosers (the query in the URL, as the API reads
// it), the table of figures per group with 合计, the trend as a table and
// as an Apache ECharts chart drawn from that table (so the page works
// without JavaScript), and the downloads of the API's CSV and XLSX.

import (
	"errors"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/caseindex"
)

// reportData is the report page's data.
type reportData struct {
	From, To, GroupBy, Interval string
	Groups, Intervals           []reportChoice
	// Error is what is wrong with the query, in Chinese; the page then
	// shows the default report.
	Error string
	// GroupLabel heads the first column; Columns the others.
	GroupLabel string
	Columns    []string
	Rows       []reportRow
	Total      reportRow
	Trend      []reportRow
	// CSV and XLSX are the downloads of the same report.
	CSV, XLSX string
	// Precision says how exact the P90 figures are.
	Precision string
}

// reportChoice is one option of a chooser.
type reportChoice struct {
	Value, Label string
	Selected     bool
}

// reportRow is a row of the table: its name and cells.
type reportRow struct {
	Name  string
	Cells []string
	// Received, Resolved, OnTime and Breached feed the trend chart.
	Received, Resolved, OnTime, Breached int
}

// reports renders the report page.
func (p *Pages) reports(c *fiber.Ctx) error {
	me := httpapi.PrincipalOf(c)
	if !me.Role.MayReport() {
		return p.render(c, fiber.StatusNotFound, "notfound", "页面不存在", "", "", nil)
	}
	values := url.Values{}
	for _, name := range []string{"from", "to", "group_by", "interval"} {
		if v := c.Query(name); v != "" {
			values.Set(name, v)
		}
	}
	data := reportData{}
	q, _, err := httpapi.ParseReport(values, me, p.now())
	if err != nil {
		var pe *caseindex.ParamError
		data.Error = "查询条件无效"
		if errors.As(err, &pe) {
			data.Error = pe.Message
		}
		values = url.Values{}
		q, _, _ = httpapi.ParseReport(values, me, p.now())
	}
	r, err := caseindex.BuildSLA(c.UserContext(), p.d.Index, q)
	if err != nil {
		return p.unavailable(c, "reports: SLA report", err)
	}
	data.From, data.To, data.GroupBy, data.Interval = r.From, r.To, r.GroupBy, r.Interval
	for _, g := range caseindex.SLAGroups {
		data.Groups = append(data.Groups, reportChoice{Value: g, Label: httpapi.SLAGroupLabels[g], Selected: g == r.GroupBy})
	}
	for _, i := range caseindex.SLAIntervals {
		data.Intervals = append(data.Intervals, reportChoice{Value: i, Label: httpapi.SLAIntervalLabels[i], Selected: i == r.Interval})
	}
	data.GroupLabel, data.Columns = httpapi.SLAGroupLabels[r.GroupBy], httpapi.SLAColumns
	for _, f := range r.Groups {
		data.Rows = append(data.Rows, newReportRow(httpapi.SLAGroupName(r.GroupBy, f.Key), f))
	}
	data.Total = newReportRow("合计", r.Total)
	for _, f := range r.Trend {
		data.Trend = append(data.Trend, newReportRow(f.Key, f))
	}
	download := url.Values{"from": {r.From}, "to": {r.To}, "group_by": {r.GroupBy}, "interval": {r.Interval}}
	download.Set("format", httpapi.FormatCSV)
	data.CSV = httpapi.PathReportSLA + "?" + download.Encode()
	download.Set("format", httpapi.FormatXLSX)
	data.XLSX = httpapi.PathReportSLA + "?" + download.Encode()
	status := fiber.StatusOK
	if data.Error != "" {
		status = fiber.StatusBadRequest
	}
	return p.render(c, status, "report", "时效统计", "reports", "", data)
}

// newReportRow is the row of figures f named name.
func newReportRow(name string, f caseindex.Figures) reportRow {
	row := reportRow{Name: name, Received: f.Received, Resolved: f.Resolved, OnTime: f.ResolvedOnTime, Breached: f.Breached}
	for _, cell := range httpapi.SLARow(f) {
		row.Cells = append(row.Cells, cell.String())
	}
	return row
}
