package csvdrop

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
	"github.com/tousu/tousu/internal/polltest"
)

func TestFolderTakesGBKExport(t *testing.T) {
	rec := newRecorder()
	f, _ := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
	multi := stdRow(6)
	multi[0] = ""                              // no work-order number: content id
	multi[5] = "第一行\n第二行，客户说“\"再不解决就投诉到工信部\"”" // embedded newline and quotes
	noPhone := stdRow(7)
	noPhone[2] = ""
	anonymous := stdRow(5)
	anonymous[2] = "匿名"
	dup := stdRow(1)
	dup[5] = "同一工单的第二次记录"
	rows := [][]string{stdHeader, stdRow(1), stdRow(2), dup, anonymous, multi, noPhone, {"", "", "", "", "", "", ""}, {"", "", "", "", "", "", ""}}
	writeFile(t, filepath.Join(f.cfg.Path, "export.csv"), encode(t, csvText(",", rows...), "gbk"))

	f.scan(context.Background())

	if exists(filepath.Join(f.cfg.Path, "export.csv")) {
		t.Fatal("the file is still in the drop folder")
	}
	processed := filepath.Join(f.cfg.Path, "processed")
	if !exists(filepath.Join(processed, "export.csv")) {
		t.Fatal("the file is not in processed/")
	}
	sum := readSummary(t, filepath.Join(processed, "export.csv.summary.json"))
	want := Summary{RowsRead: 6, Published: 3, Duplicates: 1, Rejected: 2, EmptyRows: 2}
	if sum.RowsRead != want.RowsRead || sum.Published != want.Published || sum.Duplicates != want.Duplicates ||
		sum.Rejected != want.Rejected || sum.EmptyRows != want.EmptyRows {
		t.Errorf("summary = %+v", sum)
	}
	if sum.Outcome != OutcomeProcessed || sum.Encoding != "gb18030" || sum.Delimiter != "," || sum.StoredAs != "processed/export.csv" ||
		sum.Columns["phone"] != "来电号码" || sum.RejectedFile != "processed/export.csv.rejected.csv" {
		t.Errorf("summary = %+v", sum)
	}
	if len(sum.DuplicateRows) != 1 || sum.DuplicateRows[0] != (DuplicateRow{Row: 4, ID: rowID("hotline", "GD2025000001"), FirstFile: "export.csv", FirstRow: 2}) {
		t.Errorf("duplicate rows = %+v", sum.DuplicateRows)
	}

	if rec.count() != 3 {
		t.Errorf("published %d envelopes, want 3", rec.count())
	}
	env, ok := rec.get(rowID("hotline", "GD2025000001"))
	if !ok || env.Description != stdRow(1)[5] || env.Phone != "13800000001" || env.Name != "张三" ||
		env.Extra[ExtraAgentID] != "A0123" || env.Extra[ExtraBusinessType] != "宽带" || env.Extra[ExtraRow] != "2" ||
		!env.ReceivedAt.Equal(time.Date(2025, 1, 6, 12, 9, 38, 0, Shanghai)) || env.Source != "hotline" || env.Channel != ingest.ChannelHotline {
		t.Errorf("row 2 envelope = %+v", env)
	}
	contentID := ingest.NewID(ingest.ChannelHotline, "hotline", ingest.ContentKey(sum.SHA256, "6"))
	if env, ok := rec.get(contentID); !ok || env.Description != multi[5] || env.SourceID != "" {
		t.Errorf("row 6 (content id %s) = %+v, %v", contentID, env, ok)
	}

	b, err := os.ReadFile(filepath.Join(processed, "export.csv.rejected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\ufeff")) {
		t.Error("the rejected file has no UTF-8 BOM")
	}
	got, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !slices.Equal(got[0], append([]string{"行号", "拒收原因"}, stdHeader...)) {
		t.Fatalf("rejected file = %q", got)
	}
	if got[1][0] != "5" || !strings.Contains(got[1][1], "来电号码：无法识别“匿名”") || !slices.Equal(got[1][2:], anonymous) {
		t.Errorf("rejected row = %q", got[1])
	}
	if got[2][0] != "7" || !strings.Contains(got[2][1], "来电号码：为空") || !slices.Equal(got[2][2:], noPhone) {
		t.Errorf("rejected row = %q", got[2])
	}
	if w, _ := f.st.loadWork("export.csv"); w != nil {
		t.Errorf("work record left behind: %+v", w)
	}
}

func TestFolderDuplicatesAcrossFiles(t *testing.T) {
	rec := newRecorder()
	f, clk := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
	noID := stdRow(99)
	noID[0] = ""
	a := [][]string{stdHeader, stdRow(1), stdRow(2), stdRow(3), stdRow(4), noID}
	b := [][]string{stdHeader, stdRow(3), stdRow(4), stdRow(5), stdRow(6)}
	dataA := encode(t, csvText(",", a...), "utf-8-bom")

	writeFile(t, filepath.Join(f.cfg.Path, "a.csv"), dataA)
	f.scan(context.Background())
	// Excel's "Unicode text": UTF-16LE with a BOM, tab-separated, .txt.
	writeFile(t, filepath.Join(f.cfg.Path, "b.txt"), encode(t, csvText("\t", b...), "utf-16le"))
	f.scan(context.Background())

	sumB := readSummary(t, filepath.Join(f.cfg.Path, "processed", "b.txt.summary.json"))
	if sumB.Published != 2 || sumB.Duplicates != 2 || sumB.Encoding != "utf-16le" || sumB.Delimiter != "\t" {
		t.Errorf("b.txt summary = %+v", sumB)
	}
	for _, d := range sumB.DuplicateRows {
		if d.FirstFile != "a.csv" {
			t.Errorf("duplicate %+v should point at a.csv", d)
		}
	}

	// The same export dropped again, under its old name and a new one:
	// nothing is published twice, and names in processed/ do not clash.
	clk.Advance(time.Second)
	writeFile(t, filepath.Join(f.cfg.Path, "a.csv"), dataA)
	writeFile(t, filepath.Join(f.cfg.Path, "a-copy.csv"), dataA)
	f.scan(context.Background())
	for _, name := range []string{"a-copy.csv", "a." + clk.Now().In(Shanghai).Format("20060102-150405") + ".csv"} {
		s := readSummary(t, filepath.Join(f.cfg.Path, "processed", name+".summary.json"))
		if s.Published != 0 || s.Duplicates != 5 {
			t.Errorf("%s summary = %+v", name, s)
		}
	}
	if rec.count() != 7 {
		t.Errorf("published %d distinct rows, want 7", rec.count())
	}
	for id, n := range rec.calls {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
}

func TestFolderFailsWholeFiles(t *testing.T) {
	rec := newRecorder()
	f, _ := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
	outside := filepath.Join(t.TempDir(), "secret.csv")
	writeFile(t, outside, []byte(csvText(",", stdHeader, stdRow(1))))
	drop := func(name string, b []byte) { writeFile(t, filepath.Join(f.cfg.Path, name), b) }

	drop("no-text-column.csv", encode(t, csvText(",", []string{"工单号", "来电号码", "受理时间"}, []string{"GD1", "13800138000", "2025-01-06"}), "gbk"))
	drop("report.csv", append([]byte("PK\x03\x04\x14\x00\x06\x00\x08\x00"), bytes.Repeat([]byte{0x9c}, 200)...))
	drop("dump.txt", []byte("\x00\x01\x02binary\x00\xff"))
	drop("empty.csv", nil)
	if err := os.Symlink(outside, filepath.Join(f.cfg.Path, "link.csv")); err != nil {
		t.Fatal(err)
	}
	drop("good.csv", []byte(csvText(",", stdHeader, stdRow(1))))
	ignored := []string{"~$good.csv", ".good.csv.tmp", "good.csv.part", "notes.md", "upload.csv.crdownload"}
	for _, name := range ignored {
		drop(name, []byte(csvText(",", stdHeader, stdRow(2))))
	}

	f.scan(context.Background())

	failed := filepath.Join(f.cfg.Path, "failed")
	reasons := map[string]string{
		"no-text-column.csv": "缺少必需的列：投诉内容",
		"report.csv":         "Excel 工作簿（.xlsx）",
		"dump.txt":           "不是文本",
		"empty.csv":          "文件为空",
		"link.csv":           "符号链接",
	}
	for name, want := range reasons {
		b, err := os.ReadFile(filepath.Join(failed, name+".reason.txt"))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: reason %q (%v), want it to contain %q", name, b, err, want)
		}
		if !exists(filepath.Join(failed, name)) || exists(filepath.Join(f.cfg.Path, name)) {
			t.Errorf("%s was not moved to failed/", name)
		}
		if s := readSummary(t, filepath.Join(failed, name+".summary.json")); s.Outcome != OutcomeFailed || s.Reason == "" {
			t.Errorf("%s summary = %+v", name, s)
		}
	}
	b, _ := os.ReadFile(filepath.Join(failed, "no-text-column.csv.reason.txt"))
	if !strings.Contains(string(b), "文件中的列：工单号、来电号码、受理时间") {
		t.Errorf("the reason must name the columns the file has: %s", b)
	}
	if fi, err := os.Lstat(filepath.Join(failed, "link.csv")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link itself must be moved, not its target: %v", err)
	}
	if !exists(outside) {
		t.Error("the link's target outside the folder was touched")
	}
	if !exists(filepath.Join(f.cfg.Path, "processed", "good.csv")) {
		t.Error("a good file next to bad ones was not processed")
	}
	for _, name := range ignored {
		if !exists(filepath.Join(f.cfg.Path, name)) {
			t.Errorf("%s (hidden, temporary or not matching) was taken", name)
		}
	}
	if rec.count() != 1 {
		t.Errorf("published %d rows, want only good.csv's one", rec.count())
	}
}

func TestFolderPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions do not stop reading")
	}
	f, _ := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, newRecorder().publish)
	p := filepath.Join(f.cfg.Path, "locked.csv")
	writeFile(t, p, []byte(csvText(",", stdHeader, stdRow(1))))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	f.scan(context.Background())
	b, err := os.ReadFile(filepath.Join(f.cfg.Path, "failed", "locked.csv.reason.txt"))
	if err != nil || !strings.Contains(string(b), "权限不足") {
		t.Errorf("reason %q, %v", b, err)
	}
}

func TestFolderCompleteness(t *testing.T) {
	data := []byte(csvText(",", stdHeader, stdRow(1)))
	half := data[:len(data)/2]
	type step struct {
		do    func(t *testing.T, f *folder, clk *clock, p string)
		taken bool
	}
	write := func(b []byte) func(*testing.T, *folder, *clock, string) {
		return func(t *testing.T, f *folder, clk *clock, p string) { writeFile(t, p, b) }
	}
	appendRest := func(t *testing.T, f *folder, clk *clock, p string) {
		fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write(data[len(half):])
		fh.Close()
		// A copy tool may keep the old modification time; size alone
		// must restart the clock.
		os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0))
	}
	wait := func(d time.Duration) func(*testing.T, *folder, *clock, string) {
		return func(t *testing.T, f *folder, clk *clock, p string) { clk.Advance(d) }
	}
	marker := func(t *testing.T, f *folder, clk *clock, p string) { writeFile(t, p+".done", nil) }
	stemMarker := func(t *testing.T, f *folder, clk *clock, p string) {
		writeFile(t, strings.TrimSuffix(p, ".csv")+".done", nil)
	}
	rename := func(t *testing.T, f *folder, clk *clock, p string) {
		if err := os.Rename(p+".part", p); err != nil {
			t.Fatal(err)
		}
	}
	writePart := func(t *testing.T, f *folder, clk *clock, p string) { writeFile(t, p+".part", data) }
	tests := []struct {
		mode  string
		steps []step
	}{
		{CompleteRename, []step{{writePart, false}, {wait(time.Hour), false}, {rename, true}}},
		{CompleteDone, []step{{write(half), false}, {wait(time.Hour), false}, {appendRest, false}, {marker, true}}},
		{CompleteDone, []step{{write(data), false}, {stemMarker, true}}},
		{CompleteStable, []step{{write(half), false}, {wait(time.Second), false}, {appendRest, false}, {wait(1900 * time.Millisecond), false}, {wait(200 * time.Millisecond), true}}},
		{CompleteAuto, []step{{write(half), false}, {wait(time.Second), false}, {appendRest, false}, {marker, true}}},
		{CompleteAuto, []step{{write(data), false}, {wait(3 * time.Second), true}}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.mode, i), func(t *testing.T) {
			rec := newRecorder()
			f, clk := testFolder(t, FolderConfig{Completeness: Completeness{Mode: tt.mode}}, rec.publish)
			p := filepath.Join(f.cfg.Path, "export.csv")
			for j, s := range tt.steps {
				s.do(t, f, clk, p)
				f.scan(context.Background())
				taken := exists(filepath.Join(f.cfg.Path, "processed", "export.csv"))
				if taken != s.taken {
					t.Fatalf("step %d: taken = %v, want %v", j, taken, s.taken)
				}
				if !taken && exists(filepath.Join(f.cfg.Path, "failed", "export.csv")) {
					t.Fatalf("step %d: a half-written file was taken and failed", j)
				}
			}
			if rec.count() != 1 {
				t.Errorf("published %d rows", rec.count())
			}
			for _, m := range markers("export.csv") {
				if exists(filepath.Join(f.cfg.Path, m)) {
					t.Errorf("marker %s left behind", m)
				}
			}
		})
	}
}

func TestFolderPublishFailureKeepsFile(t *testing.T) {
	rec := newRecorder()
	f, clk := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}, MaxInFlight: 8}, rec.publish)
	rows := [][]string{stdHeader}
	for i := 1; i <= 1000; i++ {
		rows = append(rows, stdRow(i))
	}
	writeFile(t, filepath.Join(f.cfg.Path, "big.csv"), []byte(csvText(",", rows...)))
	failing := rowID("hotline", "GD2025000500")
	rec.setFail(func(env ingest.Envelope) error {
		if env.ID == failing {
			return errors.New("broker unavailable")
		}
		return nil
	})

	for range 3 { // fails, and keeps failing on retries
		f.scan(context.Background())
		clk.Advance(retryMax)
		if !exists(filepath.Join(f.cfg.Path, "big.csv")) {
			t.Fatal("the file moved although a row was not acknowledged")
		}
		entries, _ := os.ReadDir(filepath.Join(f.cfg.Path, "processed"))
		failed, _ := os.ReadDir(filepath.Join(f.cfg.Path, "failed"))
		if len(entries)+len(failed) != 0 {
			t.Fatalf("something moved: %v %v", entries, failed)
		}
	}
	before := rec.count()
	if before == 0 || before >= 1000 {
		t.Fatalf("acknowledged before the failure: %d", before)
	}

	rec.setFail(nil)
	f.scan(context.Background())
	sum := readSummary(t, filepath.Join(f.cfg.Path, "processed", "big.csv.summary.json"))
	if sum.Published != 1000 || sum.Resumed != before || sum.Duplicates != 0 || rec.count() != 1000 {
		t.Errorf("summary %+v, %d published, %d before the failure", sum, rec.count(), before)
	}
	for id, n := range rec.calls {
		if n != 1 {
			t.Errorf("%s acknowledged %d times: acknowledged rows must not be republished", id, n)
		}
	}
}

func TestFolderCancelResumes(t *testing.T) {
	rec := newRecorder()
	f, _ := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteStable}, MaxInFlight: 4}, rec.publish)
	rows := [][]string{stdHeader}
	for i := 1; i <= 2000; i++ {
		rows = append(rows, stdRow(i))
	}
	p := filepath.Join(f.cfg.Path, "export.csv")
	writeFile(t, p, []byte(csvText(",", rows...)))
	fi, _ := os.Stat(p) // make it look stable already

	f.obs["export.csv"] = observation{size: fi.Size(), mtime: fi.ModTime(), since: f.now().Add(-time.Hour)}

	ctx, cancel := context.WithCancel(context.Background())
	rec.setFail(func(env ingest.Envelope) error {
		if env.Extra[ExtraRow] == "1000" {
			cancel() // the process is stopped mid-file
		}
		return nil
	})
	f.scan(ctx)
	if !exists(p) {
		t.Fatal("an interrupted file moved")
	}
	// A restart: new folder state, same directories. The work record lets
	// the file be taken at once although it was never seen stable.
	f.close()
	w, _ := New(Config{Folders: []FolderConfig{f.cfg}}, ingesttest.References(), rec.publish, nil, nil)
	g := w.folders[0]
	if err := g.setup(); err != nil {
		t.Fatal(err)
	}
	defer g.close()
	rec.setFail(nil)
	before := rec.count()
	if before == 0 || before >= 2000 {
		t.Fatalf("%d rows published before the stop", before)
	}
	g.scan(context.Background())
	sum := readSummary(t, filepath.Join(f.cfg.Path, "processed", "export.csv.summary.json"))
	if sum.Published != 2000 || sum.Resumed != before || rec.count() != 2000 {
		t.Errorf("summary %+v; %d published before the restart, %d in all", sum, before, rec.count())
	}
}

func TestRunKeepsFlowingPastABrokenFolder(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	writeFile(t, blocker, nil)
	good := filepath.Join(dir, "good")
	rec := newRecorder()
	w, err := New(provisioned(Config{Folders: []FolderConfig{
		{Name: "broken", Path: filepath.Join(blocker, "sub")},
		{Name: "good", Path: good, Completeness: Completeness{Mode: CompleteDone}, ScanInterval: 50 * time.Millisecond},
	}}), ingesttest.References(), rec.publish, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	polltest.Until(t, "the processed folder", func() bool { return exists(filepath.Join(good, "processed")) })
	writeFile(t, filepath.Join(good, "x.csv"), []byte(csvText(",", stdHeader, stdRow(1), stdRow(2))))
	writeFile(t, filepath.Join(good, "x.csv.done"), nil)
	polltest.Until(t, "the summary of x.csv", func() bool { return exists(filepath.Join(good, "processed", "x.csv.summary.json")) })
	if rec.count() != 2 {
		t.Errorf("published %d", rec.count())
	}

	// The folder is deleted and created again: the watcher follows.
	if err := os.RemoveAll(good); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(good, 0o755); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the processed folder", func() bool { return exists(filepath.Join(good, "processed")) })
	writeFile(t, filepath.Join(good, "y.csv"), []byte(csvText(",", stdHeader, stdRow(3))))
	writeFile(t, filepath.Join(good, "y.csv.done"), nil)
	polltest.Until(t, "the summary of y.csv", func() bool { return exists(filepath.Join(good, "processed", "y.csv.summary.json")) })
	if rec.count() != 3 {
		t.Errorf("published %d", rec.count())
	}
}

func TestLogsMaskPhones(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	rec := newRecorder()
	f, _ := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
	f.log = zap.New(core)
	bad := stdRow(2)
	bad[2] = "13912345678转8001"
	dup := stdRow(1)
	writeFile(t, filepath.Join(f.cfg.Path, "x.csv"), []byte(csvText(",", stdHeader, stdRow(1), bad, dup)))
	f.scan(context.Background())
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, e := range logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		for _, digits := range []string{"13912345678", "13800000001", "12345678"} {
			if strings.Contains(text, digits) {
				t.Errorf("log %q carries a phone number: %s", e.Message, text)
			}
		}
	}
	if logs.FilterMessage("row rejected").Len() != 1 || logs.FilterMessage("file processed").Len() != 1 {
		t.Errorf("logs: %v", logs.All())
	}
}

func TestFolderFileReplacedWhileRead(t *testing.T) {
	rec := newRecorder()
	f, clk := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
	p := filepath.Join(f.cfg.Path, "export.csv")
	writeFile(t, p, []byte(csvText(",", stdHeader, stdRow(1), stdRow(2))))
	var once sync.Once
	rec.setFail(func(ingest.Envelope) error {
		once.Do(func() { // an operator drops a new export under the same name
			writeFile(t, p+".tmp", []byte(csvText(",", stdHeader, stdRow(3))))
			if err := os.Rename(p+".tmp", p); err != nil {
				t.Error(err)
			}
		})
		return nil
	})
	f.scan(context.Background())
	if exists(filepath.Join(f.cfg.Path, "processed", "export.csv")) {
		t.Fatal("the new file was moved to processed/ without being read")
	}
	clk.Advance(retryMax)
	f.scan(context.Background())
	sum := readSummary(t, filepath.Join(f.cfg.Path, "processed", "export.csv.summary.json"))
	if sum.RowsRead != 1 || sum.Published != 1 || rec.count() != 3 {
		t.Errorf("summary %+v, %d published", sum, rec.count())
	}
}
