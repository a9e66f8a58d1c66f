package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/internal/workorders"
)

// writeHistory writes n generated work orders as an operator's export
// would: GB18030, extra columns, the operator's own label for 费用问题
// (计费争议), and a few rows without text.
func writeHistory(tb testing.TB, dir, name string, n int, seed uint64) string {
	tb.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"工单号", "受理时间", "工单内容", "工单分类"}) //nolint:errcheck
	for i, r := range workorders.Generate(n, seed) {
		label := r.Category
		if label == "费用问题" {
			label = "计费争议"
		}
		text := r.Text
		if i%500 == 3 {
			text = "  "
		}
		w.Write([]string{fmt.Sprintf("GD2025%06d", i), fmt.Sprintf("2025-%02d-%02d 09:%02d", 1+i%12, 1+i%28, i%60), text, label}) //nolint:errcheck
	}
	w.Flush()
	gb, err := simplifiedchinese.GB18030.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, gb, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestPolicyTrainCommand(t *testing.T) {
	dir := t.TempDir()
	history := writeHistory(t, dir, "history.csv", 4000, 7)
	heldout := writeHistory(t, dir, "history.heldout.csv", 800, 8)
	pack := filepath.Join("..", "..", "configs", "policies", "telecom.yaml")
	base := []string{"policy", "train", "-pack", pack, "-examples", history, "-text-col", "工单内容", "-label-col", "工单分类"}

	var out, errOut bytes.Buffer
	code := run(append(base, "-out", filepath.Join(dir, "m0")), nil, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), `"计费争议"（500 行）`) || !strings.Contains(errOut.String(), "label map") {
		t.Fatalf("unknown label: exit %d, stderr %s", code, errOut.String())
	}

	labels := filepath.Join(dir, "labels.yaml")
	if err := os.WriteFile(labels, []byte("计费争议: 费用问题\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var models []string
	for _, name := range []string{"m1", "m2"} {
		out.Reset()
		errOut.Reset()
		m := filepath.Join(dir, name)
		args := append(base, "-label-map", labels, "-out", m, "-report", filepath.Join(dir, name+".md"), "-heldout", heldout)
		if code := run(args, nil, &out, &errOut); code != exitOK {
			t.Fatalf("train: exit %d\n%s\n%s", code, out.String(), errOut.String())
		}
		models = append(models, m)
	}
	t.Log(out.String())
	for _, want := range []string{"3992 rows read, 8 without text skipped", "held out: 798 rows", "logistic", "naive_bayes", "chosen:", "written to"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("train output lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{"manifest.json", "weights.bin"} {
		a, errA := os.ReadFile(filepath.Join(models[0], f))
		b, errB := os.ReadFile(filepath.Join(models[1], f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs on the same file (%v %v)", f, errA, errB)
		}
	}
	report, err := os.ReadFile(filepath.Join(dir, "m1.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## 模型比较", "| 费用问题 |", "## 混淆矩阵", "## 置信度校准", "## 留出集", "## 待确认阈值"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}

	stdin = strings.NewReader("上个月话费无故多扣了50元，打了三次客服都说在处理，到现在没有答复")
	t.Cleanup(func() { stdin = os.Stdin })
	out.Reset()
	if code := run([]string{"policy", "explain", "-pack", pack, "-model", models[0], "-received", "2026-09-30T10:00:00+08:00"}, nil, &out, &errOut); code != exitOK {
		t.Fatalf("explain -model: exit %d %s", code, errOut.String())
	}
	var v struct {
		Category    string
		Explanation []struct{ Field, By, Rule, Reason string }
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range v.Explanation {
		if x.Field == "category" && x.By == "model" {
			found = strings.Contains(x.Reason, "telecom@") && strings.Contains(x.Reason, "置信度") && strings.Contains(x.Reason, "其次为")
		}
	}
	if v.Category != "费用问题" || !found {
		t.Errorf("explain -model: %s", out.String())
	}

	out.Reset()
	run([]string{"policy", "test", "-model", models[0], pack}, nil, &out, &errOut)
	if !strings.Contains(out.String(), "cross-validated accuracy") {
		t.Errorf("policy test -model does not report the model:\n%s", out.String())
	}
}
