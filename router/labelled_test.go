package router

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestReadLabelled(t *testing.T) {
	gb := func(s string) string {
		b, err := simplifiedchinese.GB18030.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name, file, data string
		opt              ReadOptions
		want             []LabelledRow
		skipped          int
		err              string
	}{
		{name: "csv, GB18030, other columns", file: "导出.csv",
			data: gb("工单号,内容,类别\nGD001,\"用户来电反映宽带以经断了3天，要求上门\",网络问题\nGD002,,费用问题\nGD003,话费多扣50元,费用问题\n"),
			want: []LabelledRow{{Row: 2, Text: "用户来电反映宽带以经断了3天，要求上门", Label: "网络问题"}, {Row: 4, Text: "话费多扣50元", Label: "费用问题"}}, skipped: 1},
		{name: "tsv, own column names", file: "history.txt", opt: ReadOptions{TextColumn: "工单内容", LabelColumn: "工单分类"},
			data: "\ufeff工单分类\t工单内容\n服务问题\t营业员态度差, 排队40分钟\n",
			want: []LabelledRow{{Row: 2, Text: "营业员态度差, 排队40分钟", Label: "服务问题"}}},
		{name: "json lines", file: "h.jsonl", opt: ReadOptions{TextColumn: "text", LabelColumn: "label"},
			data: `{"text":"莫名其妙开通了视频会员","label":"不知情定制问题","id":7}` + "\n\n" + `{"text":"  ","label":"x"}` + "\n",
			want: []LabelledRow{{Row: 1, Text: "莫名其妙开通了视频会员", Label: "不知情定制问题"}}, skipped: 1},
		{name: "missing column", file: "a.csv", data: "工单号,描述,类别\n1,x,y\n", err: `lacks the text column "内容"`},
		{name: "text without label", file: "a.csv", data: "内容,类别\n信号差,\n", err: "row 2: has text but no label"},
		{name: "bad json", file: "a.jsonl", data: "{\"text\":\n", err: "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, skipped, err := ReadLabelled(strings.NewReader(tc.data), tc.file, tc.opt)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.file) {
					t.Fatalf("error %v, want %q naming the file", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tc.want) || skipped != tc.skipped {
				t.Fatalf("rows %+v skipped %d, want %+v %d", rows, skipped, tc.want, tc.skipped)
			}
			for i := range rows {
				if rows[i] != tc.want[i] {
					t.Errorf("row %d: %+v, want %+v", i, rows[i], tc.want[i])
				}
			}
		})
	}
}

func TestMapLabels(t *testing.T) {
	p := loadTelecom(t)
	rows := []LabelledRow{
		{Text: "话费多扣", Label: "费用问题"}, {Text: "乱扣费", Label: "计费争议"}, {Text: "账单不对", Label: "计费争议"},
		{Text: "信号差", Label: "网络质量"}, {Text: "请问套餐", Label: "咨询"}, {Text: "查话费", Label: "咨询"}, {Text: "查积分", Label: "咨询"},
	}
	tests := []struct {
		name    string
		mapping map[string]string
		rows    int
		dropped int
		err     []string
	}{
		{name: "unknown labels, most frequent first", err: []string{`3 labels are not categories of pack telecom`, `"咨询"（3 行），"计费争议"（2 行），"网络质量"（1 行）`, "label map"}},
		{name: "a label still unknown", mapping: map[string]string{"计费争议": "费用问题", "咨询": ""}, err: []string{`1 labels`, `"网络质量"（1 行）`}},
		{name: "mapped onto no category", mapping: map[string]string{"计费争议": "计费问题", "咨询": "", "网络质量": "网络问题"}, err: []string{`"计费争议" → "计费问题": pack telecom has no category "计费问题"`}},
		{name: "mapped, consultations left out", mapping: map[string]string{"计费争议": "费用问题", "咨询": "", "网络质量": "网络问题"}, rows: 4, dropped: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, dropped, err := MapLabels(p, rows, tc.mapping, 1)
			for _, w := range tc.err {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
			if tc.err == nil && (err != nil || len(out) != tc.rows || dropped != tc.dropped) {
				t.Errorf("%d rows, %d dropped, %v; want %d %d", len(out), dropped, err, tc.rows, tc.dropped)
			}
			for _, r := range out {
				if r.Category == "计费争议" || r.Category == "网络质量" {
					t.Errorf("label not mapped: %+v", r)
				}
			}
		})
	}
}
