package csvdrop

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

func TestMapHeaderTolerance(t *testing.T) {
	tests := []struct {
		name  string
		cells []string
		want  map[Field]string // field -> preferred column
	}{
		{"plain", []string{"来电号码", "投诉内容"}, map[Field]string{FieldPhone: "来电号码", FieldDescription: "投诉内容"}},
		{"bom and spaces", []string{"\ufeff 工单号 ", " 主叫号码", "问题 描述\u3000"}, map[Field]string{FieldSourceID: "工单号", FieldPhone: "主叫号码", FieldDescription: "问题 描述"}},
		{"full-width parentheses suffix", []string{"联系电话（手机）", "诉求(详细)", "受理时间（北京时间）"}, map[Field]string{FieldPhone: "联系电话（手机）", FieldDescription: "诉求(详细)", FieldReceivedAt: "受理时间（北京时间）"}},
		{"latin case and full-width letters", []string{"PHONE", "Ｄｅｓｃｒｉｐｔｉｏｎ", "Ticket_ID"}, map[Field]string{FieldPhone: "PHONE", FieldDescription: "Ｄｅｓｃｒｉｐｔｉｏｎ", FieldSourceID: "Ticket_ID"}},
		{"required marker", []string{"*来电号码", "投诉内容*", "客户姓名："}, map[Field]string{FieldPhone: "*来电号码", FieldDescription: "投诉内容*", FieldName: "客户姓名："}},
		{"alias order is preference", []string{"联系电话", "来电号码", "内容", "投诉内容"}, map[Field]string{FieldPhone: "来电号码", FieldDescription: "投诉内容"}},
		{"exact beats suffix", []string{"来电号码(主叫)", "主叫号码", "投诉内容"}, map[Field]string{FieldPhone: "主叫号码"}},
		{"hints", []string{"来电号码", "投诉内容", "业务类型", "区域", "话务员", "紧急程度"}, map[Field]string{FieldBusinessType: "业务类型", FieldRegion: "区域", FieldAgentID: "话务员", FieldPriority: "紧急程度"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := MapHeader(tt.cells, nil)
			if err != nil {
				t.Fatalf("MapHeader: %v", err)
			}
			for f, want := range tt.want {
				if got, _ := h.Column(f); got != want {
					t.Errorf("%s -> %q, want %q", f, got, want)
				}
			}
		})
	}
}

func TestMapHeaderFallsBackAcrossColumns(t *testing.T) {
	h, err := MapHeader([]string{"来电号码", "联系电话", "投诉内容"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Value([]string{"", "13800138000", "x"}, FieldPhone); got != "13800138000" {
		t.Errorf("empty preferred cell: phone = %q", got)
	}
	if got := h.Value([]string{"13900139000"}, FieldDescription); got != "" {
		t.Errorf("short record: description = %q", got)
	}
}

func TestColumnsOverride(t *testing.T) {
	cfg := FolderConfig{Name: "x", Path: "/x", Columns: map[string][]string{"phone": {"客户手机"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	aliases, _ := resolveAliases(cfg.Columns)
	h, err := MapHeader([]string{"来电号码", "客户手机", "投诉内容"}, aliases)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := h.Column(FieldPhone); got != "客户手机" {
		t.Errorf("phone column = %q: configured aliases must replace the defaults", got)
	}
}

func TestParseTime(t *testing.T) {
	sh := func(y, mo, d, h, mi, s int) time.Time { return time.Date(y, time.Month(mo), d, h, mi, s, 0, Shanghai) }
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2025/1/6 12:09:38", sh(2025, 1, 6, 12, 9, 38), true},
		{"2025-01-06 12:09", sh(2025, 1, 6, 12, 9, 0), true},
		{"20250106", sh(2025, 1, 6, 0, 0, 0), true},
		{"20250106120938", sh(2025, 1, 6, 12, 9, 38), true},
		{"2025-01-06", sh(2025, 1, 6, 0, 0, 0), true},
		{"2025.1.6 8:05", sh(2025, 1, 6, 8, 5, 0), true},
		{" 2025/01/06  12:09:38 ", sh(2025, 1, 6, 12, 9, 38), true},
		{"2025-01-06T12:09:38.250", time.Date(2025, 1, 6, 12, 9, 38, 250e6, Shanghai), true},
		{"2025-01-06T04:09:38Z", sh(2025, 1, 6, 12, 9, 38), true},
		{"2025-01-06 12:09:38+0800", sh(2025, 1, 6, 12, 9, 38), true},
		{"2025年1月6日 12时09分38秒", sh(2025, 1, 6, 12, 9, 38), true},
		{"2025年1月6日12:09", sh(2025, 1, 6, 12, 9, 0), true},
		{"２０２５／１／６　１２：０９", sh(2025, 1, 6, 12, 9, 0), true},
		{"45663", sh(2025, 1, 6, 0, 0, 0), true},
		{"45663.50669", sh(2025, 1, 6, 12, 9, 38), true},
		{"'2025-01-06 12:09", sh(2025, 1, 6, 12, 9, 0), true},
		{"2025-02-30", time.Time{}, false},
		{"2025-13-01", time.Time{}, false},
		{"2025-01-06 24:00", time.Time{}, false},
		{"12:09:38", time.Time{}, false},
		{"1/6/2025", time.Time{}, false},
		{"昨天下午", time.Time{}, false},
		{"", time.Time{}, false},
		{"4566", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.in, nil)
		if ok != tt.ok || ok && !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSplitPhoneAndSourceID(t *testing.T) {
	beijing := ingest.Config{DefaultAreaCode: "010"}
	phones := []struct {
		in, want, others string
		intake           ingest.Config
	}{
		{"13800138000", "13800138000", "", ingest.Config{}},
		{"１３８００１３８０００", "13800138000", "", ingest.Config{}},
		{`="13800138000"`, "13800138000", "", ingest.Config{}},
		{"'13800138000", "13800138000", "", ingest.Config{}},
		{"13800138000/010-62345678", "13800138000", "010-62345678", ingest.Config{}},
		{"未知/13800138000", "13800138000", "未知", ingest.Config{}},
		{"匿名", "匿名", "", ingest.Config{}},
		// A local landline number counts only with a default area code.
		{"62345678、13800138000", "13800138000", "62345678", ingest.Config{}},
		{"62345678、13800138000", "62345678", "13800138000", beijing},
		{"1380013800／0571-8765 4321", "0571-8765 4321", "1380013800", beijing},
	}
	for _, tt := range phones {
		got, others := SplitPhone(tt.in, tt.intake)
		if got != tt.want || strings.Join(others, " ") != tt.others {
			t.Errorf("SplitPhone(%q) = %q %q, want %q %q", tt.in, got, others, tt.want, tt.others)
		}
	}
	ids := []struct {
		in, want string
		ok       bool
	}{
		{"GD20250106001", "GD20250106001", true},
		{"ＧＤ２０２５", "GD2025", true},
		{`="202501060001"`, "202501060001", true},
		{"2.02501E+11", "2.02501E+11", false},
		{"1.5e17", "1.5e17", false},
	}
	for _, tt := range ids {
		got, ok := CleanSourceID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CleanSourceID(%q) = %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRowParser(t *testing.T) {
	h, err := MapHeader([]string{"工单号", "受理时间", "来电号码", "客户姓名", "标题", "投诉内容", "业务类型", "地区", "坐席工号", "优先级"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2025, 1, 7, 9, 0, 0, 0, Shanghai)
	p := &RowParser{Header: h, Source: "hotline", References: ingesttest.References(), FileName: "x.csv", FileHash: "abc", ModTime: mtime,
		Now: func() time.Time { return time.Date(2025, 1, 8, 0, 0, 0, 0, Shanghai) }}

	t.Run("valid", func(t *testing.T) {
		res := p.Parse(2, []string{"GD001", "2025/1/6 12:09:38", "138 0013 8000", "张三", "断网", "宽带断网三天", "宽带", "杭州", "A0123", "紧急"})
		env := res.Envelope
		if len(res.Problems) > 0 || res.Empty || res.ReceivedFallback {
			t.Fatalf("result = %+v", res)
		}
		wantID := ingest.NewID(ingest.ChannelHotline, "hotline", "GD001")
		if env.ID != wantID || env.Reference != ingesttest.References().For(wantID) || env.SourceID != "GD001" {
			t.Errorf("id %s ref %s source id %s", env.ID, env.Reference, env.SourceID)
		}
		if env.V != ingest.SchemaVersion || env.Channel != ingest.ChannelHotline || env.Source != "hotline" {
			t.Errorf("envelope header %+v", env)
		}
		if !env.ReceivedAt.Equal(time.Date(2025, 1, 6, 12, 9, 38, 0, Shanghai)) {
			t.Errorf("received %v", env.ReceivedAt)
		}
		if env.Phone != "138 0013 8000" || env.Name != "张三" || env.Subject != "断网" || env.Description != "宽带断网三天" {
			t.Errorf("fields %+v", env)
		}
		want := map[string]string{ExtraBusinessType: "宽带", ExtraRegion: "杭州", ExtraAgentID: "A0123", ExtraPriority: "紧急", ExtraFile: "x.csv", ExtraRow: "2"}
		for k, v := range want {
			if env.Extra[k] != v {
				t.Errorf("extra[%s] = %q, want %q", k, env.Extra[k], v)
			}
		}
	})
	t.Run("no work-order number", func(t *testing.T) {
		res := p.Parse(7, []string{"", "", "13800138000", "", "", "信号差"})
		want := ingest.NewID(ingest.ChannelHotline, "hotline", ingest.ContentKey("abc", "7"))
		if res.Envelope.ID != want || !res.ReceivedFallback || !res.Envelope.ReceivedAt.Equal(mtime) {
			t.Errorf("id %s (want %s) received %v fallback %v", res.Envelope.ID, want, res.Envelope.ReceivedAt, res.ReceivedFallback)
		}
	})
	t.Run("implausible or unreadable time", func(t *testing.T) {
		for _, raw := range []string{"2031-01-01", "1999-12-31", "下午三点"} {
			res := p.Parse(3, []string{"GD9", raw, "13800138000", "", "", "信号差"})
			if !res.ReceivedFallback || !res.Envelope.ReceivedAt.Equal(mtime) || res.Envelope.Extra[ExtraReceivedRaw] != raw {
				t.Errorf("%q: received %v, extra %v", raw, res.Envelope.ReceivedAt, res.Envelope.Extra)
			}
		}
	})
	t.Run("scientific work-order number", func(t *testing.T) {
		res := p.Parse(4, []string{"2.02501E+17", "", "13800138000", "", "", "信号差"})
		if !res.SourceIDIgnored || res.Envelope.SourceID != "" || res.Envelope.Extra[ExtraSourceIDRaw] != "2.02501E+17" {
			t.Errorf("result %+v", res)
		}
		if res.Envelope.ID != ingest.NewID(ingest.ChannelHotline, "hotline", ingest.ContentKey("abc", "4")) {
			t.Errorf("a mangled number must not become the id")
		}
	})
	t.Run("empty", func(t *testing.T) {
		if res := p.Parse(9, []string{"", " ", "\u3000"}); !res.Empty {
			t.Errorf("result %+v", res)
		}
	})
	rejects := []struct {
		name   string
		cells  []string
		reason string
	}{
		{"no phone", []string{"GD1", "", "", "", "", "有内容"}, "来电号码：为空"},
		{"unreadable phone", []string{"GD1", "", "匿名", "", "", "有内容"}, "来电号码：无法识别“匿名”"},
		{"scientific phone", []string{"GD1", "", "1.38001E+10", "", "", "有内容"}, "科学计数法"},
		{"too short", []string{"GD1", "", "12345", "", "", "有内容"}, "来电号码：无法识别“12345”：无法识别的电话号码"},
		{"landline without area code", []string{"GD1", "", "6234 5678", "", "", "宽带断网"}, "来电号码：无法识别“6234 5678”：请填写带区号的固定电话"},
		{"ten-digit mobile", []string{"GD1", "", "１３８００１３８００", "", "", "宽带断网"}, "手机号码应为 11 位数字"},
		{"no text", []string{"GD1", "", "13800138000", "", "", ""}, "投诉内容：此项为必填项"},
		{"too long", []string{"GD1", "", "13800138000", "", "", strings.Repeat("长", 7000)}, "投诉内容：内容过长"},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			res := p.Parse(5, tt.cells)
			if len(res.Problems) == 0 || !strings.Contains(res.Reason(), tt.reason) {
				t.Errorf("reason %q, want it to contain %q", res.Reason(), tt.reason)
			}
			if res.Envelope.ID == "" {
				t.Errorf("a rejected row still has an id")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := FolderConfig{Name: "hotline", Path: "/data/hotline"}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty", Config{}, ""},
		{"minimal", Config{Folders: []FolderConfig{ok}}, ""},
		{"full", Config{Folders: []FolderConfig{{Name: "vendor-a", Path: "/a", Patterns: []string{"*.CSV", "export_*.txt"},
			Completeness: Completeness{Mode: "done", StableFor: time.Second}, Encoding: "gbk", Delimiter: "tab",
			Columns: map[string][]string{"phone": {"客户手机"}}, ScanInterval: time.Second, MaxRowBytes: 4096, MaxInFlight: 8}}}, ""},
		{"bad name", Config{Folders: []FolderConfig{{Name: "Hot Line", Path: "/x"}}}, "name"},
		{"no path", Config{Folders: []FolderConfig{{Name: "x"}}}, "folders[0].path: required"},
		{"duplicate name", Config{Folders: []FolderConfig{ok, {Name: "hotline", Path: "/other"}}}, "also used"},
		{"duplicate path", Config{Folders: []FolderConfig{ok, {Name: "b", Path: "/data/hotline/"}}}, "also watched"},
		{"bad pattern", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Patterns: []string{"[a"}}}}, "patterns"},
		{"pattern with slash", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Patterns: []string{"../*.csv"}}}}, "patterns"},
		{"bad mode", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Completeness: Completeness{Mode: "soon"}}}}, "completeness.mode"},
		{"bad encoding", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Encoding: "big5"}}}, "encoding"},
		{"bad delimiter", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Delimiter: "|"}}}, "delimiter"},
		{"unknown column field", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Columns: map[string][]string{"mobile": {"手机"}}}}}, `unknown field "mobile"`},
		{"alias claimed twice", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", Columns: map[string][]string{"subject": {"投诉内容"}}}}}, "both"},
		{"tiny rows", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", MaxRowBytes: 10}}}, "max_row_bytes"},
		{"negative", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", ScanInterval: -1}}}, "scan_interval"},
		{"negative dedupe window", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", DedupeWindow: -time.Hour}}}, "folders[0].dedupe_window: must not be negative"},
		{"long dedupe window", Config{Folders: []FolderConfig{{Name: "x", Path: "/x", DedupeWindow: 800 * 24 * time.Hour}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFolderFromEnv(t *testing.T) {
	got := FoldersFromEnv([]string{"PATH=/bin", "TOUSU_CSVDROP_VENDOR_B=/srv/b", "TOUSU_CSVDROP_ACME=/srv/acme"})
	if len(got) != 2 || got[0].Name != "acme" || got[0].Path != "/srv/acme" || got[1].Name != "vendor_b" {
		t.Fatalf("folders = %+v", got)
	}
	if err := (Config{Folders: got}).Validate(); err != nil {
		t.Errorf("env folders must validate: %v", err)
	}
	d := FolderFromEnv("X", "/x")
	d.Provision()
	if d.Completeness.Mode != CompleteAuto || d.ScanInterval != DefaultScanInterval || len(d.Patterns) != 3 || d.StateDir != "/x/.tousu" {
		t.Errorf("defaults %+v", d)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := New(Config{}, ingesttest.References(), nil, nil, nil); err == nil {
		t.Error("nil publish accepted")
	}
	_, err := New(Config{Folders: []FolderConfig{{Name: "x"}}}, ingesttest.References(), newRecorder().publish, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("invalid config: %v", err)
	}
}

func TestConfigValidateNamesTheKeyOnce(t *testing.T) {
	ok := FolderConfig{Name: "hotline", Path: "/data/hotline"}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Folders: []FolderConfig{ok, {Name: "x"}}}, "folders[1].path: required"},
		{Config{Folders: []FolderConfig{ok, {Name: "hotline", Path: "/data/hotline/"}}}, "folders[1].name: \"hotline\" is also used by folders[0]\nfolders[1].path: /data/hotline is also watched by folders[0]"},
		{Config{Folders: []FolderConfig{{Name: "x", Path: "/x", ScanInterval: -1, MaxInFlight: -1}}}, "folders[0].scan_interval: must not be negative\nfolders[0].max_in_flight: must not be negative"},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Validate() = %v, want %q", err, tt.want)
		}
	}
}
