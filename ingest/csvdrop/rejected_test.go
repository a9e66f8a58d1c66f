package csvdrop

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tousu/tousu/ingest"
)

// rejections collects what a folder tells OnRejected.
type rejections struct {
	mu  sync.Mutex
	got []Rejected
}

func (r *rejections) add(x Rejected) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, x)
}

func (r *rejections) take() []Rejected {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// TestFolderTellsWhatItRejected: each file that reached its outcome with
// rejected rows, or that was sent back whole, is told once with its rows
// counted by class (the column, never the cell) and where to look; a
// clean file is not told, and a file whose take failed and is retried is
// told only when it is done, so no row is counted twice.
func TestFolderTellsWhatItRejected(t *testing.T) {
	anonymous := stdRow(3)
	anonymous[2] = "匿名"
	noPhone := stdRow(4)
	noPhone[2] = ""
	excel := stdRow(5)
	excel[2] = "1.38001E+10" // Excel ate the number
	noText := stdRow(6)
	noText[5] = "  "
	tests := []struct {
		name   string
		file   string
		data   func(testing.TB) []byte
		failAt string // a row id whose publish fails on the first take
		want   map[string]int
		detail []string
	}{
		{
			name: "bad rows of a GBK export",
			file: "热线导出_20261206.csv",
			data: func(tb testing.TB) []byte {
				return encode(tb, csvText(",", stdHeader, stdRow(1), anonymous, noPhone, stdRow(2), excel, noText), "gbk")
			},
			want:   map[string]int{FieldClass("来电号码"): 3, FieldClass("投诉内容"): 1},
			detail: []string{"热线导出_20261206.csv", "4 行被拒", "processed/热线导出_20261206.csv.rejected.csv"},
		},
		{
			name: "a clean file tells nothing",
			file: "晚班.csv",
			data: func(testing.TB) []byte { return []byte(csvText(",", stdHeader, stdRow(7), stdRow(8))) },
		},
		{
			name: "a file without the text column goes back whole",
			file: "12月6日夜班.csv",
			data: func(tb testing.TB) []byte {
				return encode(tb, csvText(",", []string{"工单号", "来电号码", "受理时间"}, []string{"GD9", "13800138000", "2026-12-06"}), "gbk")
			},
			want:   map[string]int{FileClassFailed: 1},
			detail: []string{"12月6日夜班.csv", "failed/12月6日夜班.csv", "缺少必需的列"},
		},
		{
			name: "a take retried after the broker failed counts once",
			file: "retry.csv",
			data: func(testing.TB) []byte {
				return []byte(csvText(",", stdHeader, stdRow(10), anonymous, stdRow(11)))
			},
			failAt: rowID("hotline", "GD2025000011"),
			want:   map[string]int{FieldClass("来电号码"): 1},
			detail: []string{"retry.csv", "1 行被拒"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			f, clk := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
			told := &rejections{}
			f.rejected = told.add
			writeFile(t, filepath.Join(f.cfg.Path, tt.file), tt.data(t))
			if tt.failAt != "" {
				rec.setFail(func(env ingest.Envelope) error {
					if env.ID == tt.failAt {
						return errors.New("broker unavailable")
					}
					return nil
				})
				f.scan(context.Background())
				if got := told.take(); len(got) != 0 {
					t.Fatalf("told %+v before the file was done", got)
				}
				rec.setFail(nil)
				clk.Advance(retryMax)
			}
			f.scan(context.Background())
			got := told.take()
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("told %+v for a clean file", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("told %d times (%+v), want once", len(got), got)
			}
			r := got[0]
			if r.Folder != "hotline" || r.File != tt.file || !maps.Equal(r.ByClass, tt.want) {
				t.Errorf("told %+v, want %v", r, tt.want)
			}
			for _, s := range tt.detail {
				if !strings.Contains(r.Detail, s) {
					t.Errorf("detail %q does not say %q", r.Detail, s)
				}
			}
			if tt.want[FileClassFailed] == 0 {
				sum := readSummary(t, filepath.Join(f.cfg.Path, "processed", tt.file+".summary.json"))
				if !maps.Equal(sum.RejectedBy, tt.want) {
					t.Errorf("summary's rejected_by = %v, want %v", sum.RejectedBy, tt.want)
				}
			}
			if strings.Contains(r.Detail, "1380000") || strings.Contains(r.Detail, "匿名") {
				t.Errorf("detail %q quotes a cell", r.Detail)
			}
		})
	}
}
