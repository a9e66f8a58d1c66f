package csvdrop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// readAll returns every data record of data (cells copied) with its row.
func readAll(tb testing.TB, data []byte, opt ReaderOptions) (*Reader, []Record) {
	tb.Helper()
	rd, err := NewReader(bytes.NewReader(data), opt)
	if err != nil {
		tb.Fatalf("NewReader: %v", err)
	}
	var out []Record
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd, out
		}
		if err != nil {
			tb.Fatalf("Next: %v", err)
		}
		out = append(out, Record{Row: rec.Row, Cells: slices.Clone(rec.Cells)})
	}
}

func TestReaderEncodings(t *testing.T) {
	// 㐀 (U+3400) and 😀 exist in GB18030 but not in GBK.
	rows := [][]string{
		{"工单号", "来电号码", "投诉内容"},
		{"GD001", "13800138000", "宽带断网，“客服”不理"},
		{"GD002", "13900139000", "话费多扣 ５０ 元"},
	}
	extended := [][]string{rows[0], {"GD003", "13700137000", "生僻字㐀和表情😀"}}
	tests := []struct {
		enc, want string
		rows      [][]string
	}{
		{"utf-8", "utf-8", rows},
		{"utf-8-bom", "utf-8-bom", rows},
		{"gbk", "gb18030", rows},
		{"gb18030", "gb18030", extended},
		{"utf-16le", "utf-16le", rows},
		{"utf-16be", "utf-16be", rows},
	}
	for _, tt := range tests {
		t.Run(tt.enc, func(t *testing.T) {
			data := encode(t, csvText(",", tt.rows...), tt.enc)
			rd, got := readAll(t, data, ReaderOptions{})
			if rd.Encoding() != tt.want {
				t.Errorf("encoding = %s, want %s", rd.Encoding(), tt.want)
			}
			if !slices.Equal(rd.Header().Cells(), tt.rows[0]) {
				t.Errorf("header = %q", rd.Header().Cells())
			}
			if len(got) != len(tt.rows)-1 {
				t.Fatalf("got %d records, want %d", len(got), len(tt.rows)-1)
			}
			for i, rec := range got {
				if !slices.Equal(rec.Cells, tt.rows[i+1]) {
					t.Errorf("record %d = %q, want %q", i, rec.Cells, tt.rows[i+1])
				}
			}
		})
	}
}

func TestReaderEncodingOverride(t *testing.T) {
	data := encode(t, csvText(",", []string{"来电号码", "投诉内容"}, []string{"13800138000", "信号差"}), "gbk")
	for _, label := range []string{"gbk", "GB2312", "gb18030"} {
		rd, got := readAll(t, data, ReaderOptions{Encoding: label})
		if rd.Encoding() != "gb18030" || got[0].Cells[1] != "信号差" {
			t.Errorf("%s: encoding %s, cells %q", label, rd.Encoding(), got[0].Cells)
		}
	}
	// A UTF-16 file without a byte-order mark is read when configured.
	noBOM := encode(t, csvText("\t", []string{"来电号码", "投诉内容"}, []string{"13800138000", "信号差"}), "utf-16le")[2:]
	if _, err := NewReader(bytes.NewReader(noBOM), ReaderOptions{}); err == nil || !strings.Contains(err.(*FileError).Reason, "UTF-16") {
		t.Errorf("UTF-16 without BOM, auto: err = %v, want a hint to configure utf-16", err)
	}
	rd, got := readAll(t, noBOM, ReaderOptions{Encoding: "utf-16"})
	if rd.Encoding() != "utf-16le" || got[0].Cells[1] != "信号差" {
		t.Errorf("utf-16 without BOM: %s %v", rd.Encoding(), got)
	}
}

func TestReaderDelimiters(t *testing.T) {
	rows := [][]string{
		{"工单号", "来电号码", "投诉内容", "地区"},
		{"GD001", "13800138000", "断网, 报修无人, 要求赔偿", "杭州"},
		{"GD002", "13900139000", "扣费; 不合理", "宁波"},
		{"GD003", "13700137000", "信号差", "温州"},
	}
	tests := []struct {
		name, delim, opt string
		want             rune
	}{
		{"comma", ",", "", ','},
		{"tab with commas in text", "\t", "", '\t'},
		{"semicolon", ";", "", ';'},
		{"tab configured", "\t", "tab", '\t'},
		{"comma configured", ",", ",", ','},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, got := readAll(t, []byte(csvText(tt.delim, rows...)), ReaderOptions{Delimiter: tt.opt})
			if rd.Delimiter() != tt.want {
				t.Errorf("delimiter = %q, want %q", rd.Delimiter(), tt.want)
			}
			if len(got) != 3 || !slices.Equal(got[0].Cells, rows[1]) || !slices.Equal(got[1].Cells, rows[2]) {
				t.Errorf("records = %v", got)
			}
		})
	}
}

func TestReaderQuirksAndRowNumbers(t *testing.T) {
	data := "客服工单导出 2025-01-06\r\n" + // preamble title: row 1
		"\r\n" + // blank: row 2
		"工单号,来电号码,投诉内容,备注\r\n" + // header: row 3
		"GD001,13800138000,\"第一行\r\n第二行，含\"\"引号\"\"\",x\r\n" + // row 4 spans two lines
		"GD002,13900139000\r\n" + // row 5: ragged, short
		"\r\n" + // row 6: blank line
		"GD003,13700137000,多出来的列,x,y,z\r\n" + // row 7: ragged, long
		",,,\r\n" + // row 8: empty row
		",,,\r\n" // row 9
	rd, got := readAll(t, []byte(data), ReaderOptions{})
	if rd.HeaderRow() != 3 {
		t.Errorf("header row = %d, want 3", rd.HeaderRow())
	}
	want := []Record{
		{4, []string{"GD001", "13800138000", "第一行\n第二行，含\"引号\"", "x"}},
		{5, []string{"GD002", "13900139000"}},
		{7, []string{"GD003", "13700137000", "多出来的列", "x", "y", "z"}},
		{8, []string{"", "", "", ""}},
		{9, []string{"", "", "", ""}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records: %v", len(got), got)
	}
	for i := range want {
		if got[i].Row != want[i].Row || !slices.Equal(got[i].Cells, want[i].Cells) {
			t.Errorf("record %d = %d %q, want %d %q", i, got[i].Row, got[i].Cells, want[i].Row, want[i].Cells)
		}
	}
}

func TestReaderRejectsNonText(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		err    error
		reason string
	}{
		{"xlsx renamed", append([]byte("PK\x03\x04\x14\x00\x06\x00"), bytes.Repeat([]byte{0x8a}, 100)...), ErrNotText, ".xlsx"},
		{"xls renamed", append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 100)...), ErrNotText, ".xls"},
		{"binary", []byte("abc\x00\x01\x02\x03def\x00\x00\x00\x07"), ErrNotText, "二进制"},
		{"empty", nil, ErrEmpty, "为空"},
		{"only blank lines", []byte("\r\n\r\n,,,\r\n"), ErrEmpty, "为空"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.data), ReaderOptions{})
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, tt.err) || !strings.Contains(fe.Reason, tt.reason) {
				t.Fatalf("err = %v, want a FileError with %v and reason containing %q", err, tt.err, tt.reason)
			}
		})
	}
}

func TestReaderMissingColumns(t *testing.T) {
	data := csvText(",", []string{"工单号", "来电号码", "受理时间"}, []string{"GD1", "13800138000", "2025-01-06"})
	_, err := NewReader(strings.NewReader(data), ReaderOptions{})
	var fe *FileError
	var mc *MissingColumnsError
	if !errors.As(err, &fe) || !errors.As(err, &mc) {
		t.Fatalf("err = %v, want a FileError wrapping MissingColumnsError", err)
	}
	if !slices.Equal(mc.Missing, []Field{FieldDescription}) || !slices.Equal(mc.Have, []string{"工单号", "来电号码", "受理时间"}) {
		t.Errorf("missing %v have %v", mc.Missing, mc.Have)
	}
	for _, s := range []string{"投诉内容", "问题描述", "工单号、来电号码、受理时间"} {
		if !strings.Contains(fe.Reason, s) {
			t.Errorf("reason %q lacks %q", fe.Reason, s)
		}
	}
}

func TestReaderRowTooLong(t *testing.T) {
	data := "来电号码,投诉内容\r\n13800138000,正常\r\n13900139000,\"没有闭合的引号\r\n" + strings.Repeat("很长的一行文字\r\n", 50000)
	rd, err := NewReader(strings.NewReader(data), ReaderOptions{MaxRowBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := rd.Next(); err != nil || rec.Row != 2 {
		t.Fatalf("first record: %v %v", rec, err)
	}
	_, err = rd.Next()
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrRowTooLong) || !strings.Contains(fe.Reason, "第 2 行之后") {
		t.Fatalf("err = %v, want ErrRowTooLong after row 2", err)
	}
}

// rowSource generates a CSV of n rows on the fly and counts the bytes
// read from it.
type rowSource struct {
	n, next int
	buf     []byte
	read    int64
}

func (s *rowSource) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.next > s.n {
			return 0, io.EOF
		}
		if s.next == 0 {
			s.buf = []byte(csvText(",", stdHeader))
		} else {
			s.buf = []byte(csvText(",", stdRow(s.next)))
		}
		s.next++
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	s.read += int64(n)
	return n, nil
}

// TestReaderStreams shows that the reader never runs ahead of the record
// it returns by more than its sample and buffers: memory does not grow
// with the file.
func TestReaderStreams(t *testing.T) {
	src := &rowSource{n: 30000}
	rd, err := NewReader(src, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rowBytes := int64(len(csvText(",", stdRow(1))))
	const slack = sampleSize + 64<<10
	rows := 0
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		if consumed := int64(rec.Row) * (rowBytes + 2); src.read > consumed+slack {
			t.Fatalf("row %d: read %d bytes, only ~%d consumed", rec.Row, src.read, consumed)
		}
	}
	if rows != 30000 {
		t.Errorf("rows = %d", rows)
	}
	if fmt.Sprint(rd.Header().Cells()) != fmt.Sprint(stdHeader) {
		t.Errorf("header = %q", rd.Header().Cells())
	}
}
