package csvdrop

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

// FuzzReadRows feeds arbitrary bytes through the reader and the row
// parser: no panic, increasing row numbers, and every row that is not
// rejected is an envelope every channel would accept.
func FuzzReadRows(f *testing.F) {
	seeds := []string{
		csvText(",", stdHeader, stdRow(1), stdRow(2)),
		csvText("\t", stdHeader, stdRow(3)),
		csvText(";", []string{"来电号码", "投诉内容"}, []string{"１３８００１３８０００", "全角"}),
		"来电号码,投诉内容\n13800138000,\"未闭合\n",
		"title\n\n来电号码,问题描述,受理时间\n13800138000,\"a\"\"b\nc\",45663.5\n,,\n",
		"\ufeff来电号码,投诉内容\r\n=\"13800138000\",'x\r\n",
		"phone,description\n+86 138 0013 8000,ok\n13800138000/010-1234567,two\n1.38E+10,sci\n",
		"",
		"PK\x03\x04",
		"\xff\xfe\x00\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add(encode(f, csvText(",", stdHeader, stdRow(4)), "gbk"))
	f.Add(encode(f, csvText("\t", stdHeader, stdRow(5)), "utf-16le"))
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, Shanghai)
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data), ReaderOptions{MaxRowBytes: MinMaxRowBytes})
		if err != nil {
			var fe *FileError
			if errors.As(err, &fe) && fe.Reason == "" {
				t.Fatalf("file error without a reason: %v", err)
			}
			return
		}
		p := &RowParser{Header: rd.Header(), Source: "fuzz", References: ingesttest.References(), FileName: "f.csv", FileHash: "00", ModTime: now, Now: func() time.Time { return now },
			Intake: ingest.Config{DefaultAreaCode: "010"}}
		last := rd.HeaderRow()
		for range 10000 {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var re *RowError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				return
			}
			if rec.Row <= last {
				t.Fatalf("row %d after row %d", rec.Row, last)
			}
			last = rec.Row
			res := p.Parse(rec.Row, rec.Cells)
			if res.Empty {
				continue
			}
			env := res.Envelope
			if env.ID == "" || env.Reference != ingesttest.References().For(env.ID) || env.ReceivedAt.IsZero() {
				t.Fatalf("row %d: envelope %+v", rec.Row, env)
			}
			if len(res.Problems) > 0 {
				if !utf8.ValidString(res.Reason()) && utf8.ValidString(strings.Join(rec.Cells, "")) {
					t.Fatalf("row %d: reason is not UTF-8", rec.Row)
				}
				continue
			}
			// Checked as the parser's intake rule checks it: a local
			// number is complete with the default area code.
			if errs := p.Intake.Check(&env); len(errs) > 0 {
				t.Fatalf("row %d: accepted but invalid: %v", rec.Row, errs)
			}
		}
	})
}

// FuzzParseTime checks that every time ParseTime accepts is a real date it
// can read back.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2025/1/6 12:09:38", "2025-01-06 12:09", "20250106", "45663.50669", "2025年1月6日 12时09分",
		"２０２５／１／６", "2025-01-06T04:09:38Z", "2025-01-06 12:09:38+0800", "2025-02-30", "99999.999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTime(s, nil)
		if !ok {
			return
		}
		if got.Year() < 1899 || got.Year() > 10000 {
			t.Fatalf("ParseTime(%q) = %v", s, got)
		}
		back, ok := ParseTime(got.Format("2006-01-02 15:04:05.999999999-07:00"), nil)
		if !ok || !back.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v, which does not read back (%v %v)", s, got, back, ok)
		}
	})
}

// FuzzMapHeader checks that mapping never panics and never assigns a
// column to two fields.
func FuzzMapHeader(f *testing.F) {
	f.Add("来电号码,投诉内容,工单号")
	f.Add("\ufeff Phone ,问题描述（详细）,*受理时间：")
	f.Add("联系电话(手机),联系电话,来电号码(")
	f.Fuzz(func(t *testing.T, line string) {
		h, _ := MapHeader(strings.Split(line, ","), nil)
		owner := map[int]Field{}
		for f, cols := range h.cols {
			for _, c := range cols {
				if o, ok := owner[c]; ok {
					t.Fatalf("column %d belongs to %s and %s", c, o, f)
				}
				owner[c] = f
			}
		}
	})
}
