package httpapi

// This file is the export of a search as CSV, for the API (GET
// /api/v1/cases/export) and the console's search page: the same query
// parameters as the search, the same scope (ParseSearch) and masking
// (Redact).

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// PathExport is the API's export of a search as CSV.
const PathExport = "/api/v1/cases/export"

// MaxExportRows bounds the cases of one export: the deepest a search
// pages (caseindex.MaxWindow); a larger result is cut there, and the
// answer's X-Export-Truncated header says so.
const MaxExportRows = caseindex.MaxWindow

// exportColumns are the header of an export, in Chinese for the people
// who open it in Excel.
var exportColumns = []string{"工单编号", "受理编号", "受理时间", "渠道", "类别", "诉求类型", "等级", "有效性", "状态",
	"部门", "队列", "负责人（首问）", "处理人", "客户姓名", "电话", "电子邮箱", "工单号", "业务类型", "主题", "内容", "处理时限"}

// exportRecord is the row of case c (already redacted) in an export.
func exportRecord(c router.Case) []string {
	validity := ""
	switch {
	case c.Validity.Valid:
		validity = "有效"
	case c.Pack != "":
		validity = "无效"
	}
	return []string{c.ID, strings.Join(c.References, "、"), exportTime(c.ReceivedAt), ChannelLabel(c.Channel), c.Category, c.ContactType,
		c.Grade, validity, c.Status.Label(), c.Route.Department, c.Route.Queue, c.Route.Owner, c.Assignee,
		c.Customer.Name, c.Customer.Phone, c.Customer.Email, strings.Join(c.WorkOrders, "、"), c.BusinessType,
		c.Subject, c.Description, exportTime(c.Deadline)}
}

// exportZone is the zone an export shows times in.
var exportZone = time.FixedZone("CST", 8*60*60)

// exportTime shows an instant in an export; empty for none.
func exportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(exportZone).Format("2006-01-02 15:04:05")
}

// SafeCell is a cell as a spreadsheet may open it without running it: a
// value starting with = + - @ (or a tab or carriage return, which some
// spreadsheets skip before them) is a formula there, so it gets a
// leading apostrophe (CSV injection).
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// channelLabels name the intake channels in Chinese.
var channelLabels = map[ingest.Channel]string{
	ingest.ChannelEmail: "电子邮件", ingest.ChannelWebForm: "网页表单", ingest.ChannelAPI: "接口",
	ingest.ChannelHotline: "热线", ingest.ChannelWebhook: "第三方推送",
}

// ChannelLabel names an intake channel in Chinese; an unknown one by
// itself.
func ChannelLabel(ch ingest.Channel) string {
	if l, ok := channelLabels[ch]; ok {
		return l
	}
	return string(ch)
}

// ErrExport wraps the error of an export that could not start because
// the case index did not answer; nothing was written.
var ErrExport = errors.New("export: the case index is unavailable")

// SendCSV answers the cases of search q (already scoped to p by
// ParseSearch), all of them from the first up to MaxExportRows whatever
// q's page, as a CSV attachment: UTF-8 with a byte-order mark (so Excel
// reads the Chinese), the Chinese header, every case as p may see it
// (Redact under customerKey) and every cell SafeCell. It reads the
// first page before answering, and returns an error wrapping ErrExport,
// having written nothing, when it cannot; it logs who exported how many
// cases by which filters (their names, not their values) to logger. The
// rest is streamed, and an error after the first page ends the file
// early (logged to logger).
func SendCSV(c *fiber.Ctx, index caseindex.Index, q caseindex.Query, p Principal, customerKey []byte, logger *zap.Logger) error {
	ctx := context.WithoutCancel(c.UserContext())
	q.Offset, q.Limit = 0, caseindex.MaxLimit
	first, err := index.Search(ctx, q)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrExport, err)
	}
	total := min(first.Total, MaxExportRows)
	name := "tousu-cases-" + time.Now().In(exportZone).Format("20060102-150405") + ".csv"
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"; filename*=UTF-8''`+url.PathEscape("投诉工单-"+name))
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Total-Count", fmt.Sprint(first.Total))
	if first.Total > MaxExportRows {
		c.Set("X-Export-Truncated", "true")
	}
	// The filters' names only: a value may be a phone number.
	logger.Info("cases exported", zap.String("by", p.Name), zap.Strings("filters", slices.Sorted(maps.Keys(q.Filters))),
		zap.Bool("text", q.Text != ""), zap.Int("total", first.Total), zap.Int("rows", total))
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		bw.WriteString("\uFEFF")
		w := csv.NewWriter(bw)
		w.UseCRLF = true // as Excel writes it
		w.Write(exportColumns)
		page, written := first, 0
		for {
			for _, cs := range page.Hits {
				if written == total {
					break
				}
				rec := exportRecord(Redact(cs, p, customerKey))
				for i := range rec {
					rec[i] = SafeCell(rec[i])
				}
				w.Write(rec)
				written++
			}
			w.Flush()
			if w.Error() != nil || written >= total || len(page.Hits) == 0 {
				break
			}
			q.Offset = written
			q.Limit = min(caseindex.MaxLimit, total-written)
			if page, err = index.Search(ctx, q); err != nil {
				logger.Error("export cut short: search failed", zap.Int("written", written), zap.Error(err))
				break
			}
		}
		if err := w.Error(); err != nil {
			logger.Warn("export cut short: the client went away", zap.Int("written", written), zap.Error(err))
		}
	})
	return nil
}

// export answers PathExport: the search of the query parameters as CSV
// (SendCSV), 400 for a wrong parameter as the search answers it, 503
// when the index does not answer.
func (k *Console) export(c *fiber.Ctx) error {
	p := PrincipalOf(c)
	q, ok, err := k.parseSearch(c, p)
	if !ok {
		return err
	}
	if err := SendCSV(c, k.index, q, p, k.customerKey, k.logger); err != nil {
		k.logger.Error("export failed", zap.Error(err))
		return fail(c, fiber.StatusServiceUnavailable, errIndex)
	}
	return nil
}
