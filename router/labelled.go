package router

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tousu/tousu/ingest/csvdrop"
)

// LabelledRow is one row of a training file: its text and label as
// written, before labels are mapped onto a pack's categories.
type LabelledRow struct {
	Row   int
	Text  string
	Label string
}

// ReadOptions say which columns (CSV, TSV) or keys (JSON lines) of a
// training file hold the text and the label.
type ReadOptions struct {
	TextColumn, LabelColumn string
}

// Default training-file columns, as the bundled example files and most
// work-order exports name them.
const (
	DefaultTextColumn  = "内容"
	DefaultLabelColumn = "类别"
)

// ReadLabelled reads a training file of labelled work orders: JSON lines
// when name ends in .jsonl or .ndjson, else CSV or TSV (the delimiter of
// the header line: a tab when it holds more tabs than commas). The bytes
// are UTF-8 or GB18030, detected as the hotline reader detects them. Rows
// without text are skipped and counted in skipped; a row without a label
// is an error.
func ReadLabelled(r io.Reader, name string, opt ReadOptions) (rows []LabelledRow, skipped int, err error) {
	opt.TextColumn = cmp.Or(opt.TextColumn, DefaultTextColumn)
	opt.LabelColumn = cmp.Or(opt.LabelColumn, DefaultLabelColumn)
	text, _, err := csvdrop.DecodeText(r)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson":
		rows, skipped, err = readJSONLines(text, opt)
	default:
		rows, skipped, err = readDelimited(text, opt)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	return rows, skipped, nil
}

// readDelimited reads CSV or TSV with a header line.
func readDelimited(r io.Reader, opt ReadOptions) ([]LabelledRow, int, error) {
	br := bufio.NewReader(r)
	first, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, 0, err
	}
	line, _, _ := strings.Cut(string(first), "\n")
	c := csv.NewReader(br)
	c.FieldsPerRecord = -1
	c.LazyQuotes = true
	if strings.Count(line, "\t") > strings.Count(line, ",") {
		c.Comma = '\t'
	}
	header, err := c.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("header: %w", err)
	}
	ti, li := -1, -1
	for i, h := range header {
		switch csvdrop.NormalizeHeader(h) {
		case csvdrop.NormalizeHeader(opt.TextColumn):
			ti = i
		case csvdrop.NormalizeHeader(opt.LabelColumn):
			li = i
		}
	}
	if ti < 0 || li < 0 {
		return nil, 0, fmt.Errorf("header %q lacks the text column %q or the label column %q (give -text-col and -label-col)", strings.Join(header, ","), opt.TextColumn, opt.LabelColumn)
	}
	var rows collected
	for n := 2; ; n++ {
		rec, err := c.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		var text, label string
		if ti < len(rec) {
			text = strings.TrimSpace(rec[ti])
		}
		if li < len(rec) {
			label = strings.TrimSpace(rec[li])
		}
		if err := rows.add(LabelledRow{Row: n, Text: text, Label: label}); err != nil {
			return nil, 0, err
		}
	}
	return rows.rows, rows.skipped, nil
}

// readJSONLines reads one JSON object per line.
func readJSONLines(r io.Reader, opt ReadOptions) ([]LabelledRow, int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	var rows collected
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", n, err)
		}
		text, _ := obj[opt.TextColumn].(string)
		label, _ := obj[opt.LabelColumn].(string)
		if err := rows.add(LabelledRow{Row: n, Text: strings.TrimSpace(text), Label: strings.TrimSpace(label)}); err != nil {
			return nil, 0, err
		}
	}
	return rows.rows, rows.skipped, sc.Err()
}

// collected are the rows read so far and how many were skipped.
type collected struct {
	rows    []LabelledRow
	skipped int
}

// add keeps a row to learn from, skips (counting it) a row without text,
// and fails for text without a label.
func (c *collected) add(r LabelledRow) error {
	switch {
	case r.Text == "":
		c.skipped++
	case r.Label == "":
		return fmt.Errorf("row %d: has text but no label", r.Row)
	default:
		c.rows = append(c.rows, r)
	}
	return nil
}

// MapLabels maps the rows' labels onto the pack's categories: a label
// that names a category is kept, else labelMap maps it (to a category, or
// to "" to leave its rows out). It fails listing every label it cannot
// map with its count, most frequent first, and every labelMap value that
// is not a category. dropped counts the rows left out.
func MapLabels(p *Pack, rows []LabelledRow, labelMap map[string]string, weight float64) (out []Labelled, dropped int, err error) {
	cats := packCategories(p)
	var errs []error
	for _, from := range slices.Sorted(maps.Keys(labelMap)) {
		if to := labelMap[from]; to != "" && !slices.Contains(cats, to) {
			errs = append(errs, fmt.Errorf("label map: %q → %q: pack %s has no category %q (categories: %s)", from, to, p.Name, to, strings.Join(cats, "、")))
		}
	}
	unknown := map[string]int{}
	for _, r := range rows {
		cat := r.Label
		if !slices.Contains(cats, cat) {
			to, ok := labelMap[cat]
			if !ok {
				unknown[cat]++
				continue
			}
			if to == "" {
				dropped++
				continue
			}
			cat = to
		}
		out = append(out, Labelled{Text: r.Text, Category: cat, Weight: weight})
	}
	if len(unknown) > 0 {
		labels := slices.SortedFunc(maps.Keys(unknown), func(a, b string) int { return cmp.Or(cmp.Compare(unknown[b], unknown[a]), cmp.Compare(a, b)) })
		var list []string
		for _, l := range labels {
			list = append(list, fmt.Sprintf("%q（%d 行）", l, unknown[l]))
		}
		errs = append(errs, fmt.Errorf("%d labels are not categories of pack %s (%s): %s; map them with a label map file (标签: 分类, or 标签: \"\" to leave them out)",
			len(labels), p.Name, strings.Join(cats, "、"), strings.Join(list, "，")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	return out, dropped, nil
}

// CorrectionRows are the pack's category corrections as training rows
// (text and category), the latest of each complaint, for merging into the
// next training file.
func CorrectionRows(cs []Correction) []LabelledRow {
	var out []LabelledRow
	for _, c := range latestCorrections(cs) {
		if c.field() == FieldCategory {
			out = append(out, LabelledRow{Row: len(out) + 1, Text: c.Text, Label: c.Category})
		}
	}
	return out
}
