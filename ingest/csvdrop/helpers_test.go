package csvdrop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

// encode returns s in the named encoding: utf-8, utf-8-bom, gbk, gb18030,
// utf-16le (with BOM) or utf-16be (with BOM).
func encode(tb testing.TB, s, enc string) []byte {
	tb.Helper()
	var e encoding.Encoding
	switch enc {
	case "utf-8":
		return []byte(s)
	case "utf-8-bom":
		return append([]byte{0xEF, 0xBB, 0xBF}, s...)
	case "gbk":
		e = simplifiedchinese.GBK
	case "gb18030":
		e = simplifiedchinese.GB18030
	case "utf-16le":
		e = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case "utf-16be":
		e = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	default:
		tb.Fatalf("unknown encoding %q", enc)
	}
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		tb.Fatalf("encode %s: %v", enc, err)
	}
	return b
}

// csvText joins rows with the delimiter, quoting cells that need it, with
// CRLF line ends as Excel writes them.
func csvText(delim string, rows ...[]string) string {
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				b.WriteString(delim)
			}
			if strings.ContainsAny(c, "\"\r\n"+delim) {
				c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
			}
			b.WriteString(c)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// stdHeader is a call-centre export header.
var stdHeader = []string{"工单号", "受理时间", "来电号码", "客户姓名", "业务类型", "投诉内容", "坐席工号"}

// stdRow is a valid row of stdHeader.
func stdRow(n int) []string {
	return []string{
		fmt.Sprintf("GD2025%06d", n), "2025/1/6 12:09:38", fmt.Sprintf("138%08d", n), "张三",
		"宽带", fmt.Sprintf("第%d号投诉：宽带断网三天，多次报修无人处理", n), "A0123",
	}
}

// recorder is a fake Publish that remembers every envelope. fail, when
// set, decides per envelope whether publishing fails.
type recorder struct {
	mu    sync.Mutex
	envs  map[string]ingest.Envelope
	calls map[string]int
	fail  func(ingest.Envelope) error
}

func newRecorder() *recorder {
	return &recorder{envs: map[string]ingest.Envelope{}, calls: map[string]int{}}
}

func (r *recorder) publish(_ context.Context, env ingest.Envelope) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(env); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs[env.ID] = env
	r.calls[env.ID]++
	return nil
}

func (r *recorder) setFail(f func(ingest.Envelope) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.envs)
}

func (r *recorder) get(id string) (ingest.Envelope, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.envs[id]
	return e, ok
}

// clock is a fake time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// provisioned returns cfg with its defaults, as New expects it.
func provisioned(cfg Config) Config {
	cfg.Provision()
	return cfg
}

// testFolder returns a set-up folder (not running) for cfg (Name and Path
// default to "hotline" and a temporary directory), driven by a fake clock.
func testFolder(tb testing.TB, cfg FolderConfig, publish ingest.Publish) (*folder, *clock) {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "hotline"
	}
	if cfg.Path == "" {
		cfg.Path = filepath.Join(tb.TempDir(), "drop")
	}
	w, err := New(provisioned(Config{Folders: []FolderConfig{cfg}}), ingesttest.References(), publish, nil, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	f := w.folders[0]
	clk := &clock{t: time.Now()}
	f.now = clk.Now
	if err := f.setup(); err != nil {
		tb.Fatalf("setup: %v", err)
	}
	tb.Cleanup(f.close)
	return f, clk
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func readSummary(tb testing.TB, path string) Summary {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("summary: %v", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		tb.Fatalf("summary %s: %v", path, err)
	}
	return s
}

// rowID is the id a row with a work-order number gets.
func rowID(folder, sourceID string) string {
	return ingest.NewID(ingest.ChannelHotline, folder, sourceID)
}
