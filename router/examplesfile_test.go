package router

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackExamplesFile: a pack's examples_file joins its rows to the
// example sets of their categories, read beside the pack file; a label
// that is not a category, a path leaving the pack's folder and a pack
// parsed without a file to read it beside are errors naming the key.
func TestPackExamplesFile(t *testing.T) {
	mini, err := os.ReadFile(filepath.Join("testdata", "mini.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	withFile := func(name string) []byte {
		return []byte(strings.Replace(string(mini), "\n  examples:\n", "\n  examples_file: "+name+"\n  examples:\n", 1))
	}
	write := func(tb testing.TB, dir, name string, data []byte) string {
		tb.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		return path
	}
	rows := "内容,类别\n\"上月多扣了30元月租，客服说查不到\",费用\n宽带晚上八点后卡得打不开网页,网络\n"

	dir := t.TempDir()
	write(t, dir, "examples/mini.csv", []byte(rows))
	before, err := ParsePack(mini)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPack(write(t, dir, "mini.yaml", withFile("examples/mini.csv")))
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *Pack, category string) int {
		for _, e := range p.Categories.Examples {
			if e.Category == category {
				return len(e.Texts)
			}
		}
		return 0
	}
	if count(p, "费用") != count(before, "费用")+1 || count(p, "网络") != count(before, "网络")+1 {
		t.Errorf("examples 费用 %d, 网络 %d; want one more each than the pack's own %d, %d",
			count(p, "费用"), count(p, "网络"), count(before, "费用"), count(before, "网络"))
	}

	for _, tt := range []struct {
		name, file, csv, want string
	}{
		{"unknown label", "examples/bad.csv", "内容,类别\n话费多扣,计费争议\n", `categories.examples_file: examples/bad.csv row 2: "计费争议" is not a category of the pack`},
		{"outside the folder", "../mini.csv", rows, `categories.examples_file: "../mini.csv": must be a relative path inside the pack's folder`},
		{"missing", "examples/none.csv", "", "categories.examples_file: open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.csv != "" && filepath.IsLocal(tt.file) {
				write(t, dir, tt.file, []byte(tt.csv))
			}
			_, err := LoadPack(write(t, dir, "mini.yaml", withFile(tt.file)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadPack: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := ParsePack(withFile("examples/mini.csv")); err == nil || !strings.Contains(err.Error(), "only a pack loaded from a file") {
		t.Errorf("ParsePack with an examples_file: %v", err)
	}
}
