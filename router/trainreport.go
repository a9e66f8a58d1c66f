package router

import (
	"fmt"
	"slices"
	"strings"
)

// Report renders the model's training report as Markdown: the data, both
// kinds' cross-validated accuracy and macro-F1 and which was chosen, the
// chosen kind's per-category precision, recall and support and its
// confusion matrix, the reliability table of its calibrated confidence
// and the abstain threshold. Every number is from cross-validation on the
// training data: it says how the model does on texts like those, not on
// texts of another kind.
func (m *Model) Report() string {
	mf := m.Manifest
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# 分类模型训练报告：%s\n\n", mf.ID)
	p("- 处理规则：%s@%s，%d 个分类\n", mf.Pack, mf.PackVersion, len(mf.Categories))
	p("- 训练数据：%d 条（其中坐席更正 %d 条），数据指纹 sha256 %s\n", mf.Data.Rows, mf.Data.Corrections, mf.Data.SHA256[:16])
	p("- 特征：字符 %d–%d 元组，哈希到 2^%d 个桶\n", mf.Features.NgramMin, mf.Features.NgramMax, mf.Features.HashBits)
	p("- 评估：分层 %d 折交叉验证（每条工单由未见过它的模型判定）\n\n", mf.Settings.Folds)
	p("## 模型比较\n\n| 模型 | 准确率 | 宏平均 F1 |\n|---|---:|---:|\n")
	for _, r := range mf.CV {
		mark := ""
		if r.Kind == mf.Chosen {
			mark = "（选用）"
		}
		p("| %s%s | %s | %s |\n", kindNames[r.Kind], mark, pct(r.Accuracy), pct(r.MacroF1))
	}
	if len(mf.CV) == 2 {
		p("\n选用%s：宏平均 F1 %+.1f 个百分点，准确率 %+.1f 个百分点（相对另一模型）。\n", kindNames[mf.Chosen], diff(mf.CV, mf.Chosen, func(r CVResult) float64 { return r.MacroF1 }), diff(mf.CV, mf.Chosen, func(r CVResult) float64 { return r.Accuracy }))
	}
	i := slices.IndexFunc(mf.CV, func(r CVResult) bool { return r.Kind == mf.Chosen })
	chosen := mf.CV[i]
	p("\n## 各分类（%s）\n\n| 分类 | 精确率 | 召回率 | F1 | 样本数 |\n|---|---:|---:|---:|---:|\n", kindNames[mf.Chosen])
	for _, c := range chosen.PerCategory {
		p("| %s | %s | %s | %s | %d |\n", c.Category, pct(c.Precision), pct(c.Recall), pct(c.F1), c.Support)
	}
	p("\n## 混淆矩阵（行：实际分类，列：模型判定）\n\n| 实际＼判定 | %s |\n|---|%s\n", strings.Join(mf.Categories, " | "), strings.Repeat("---:|", len(mf.Categories)))
	for r, row := range chosen.Confusion {
		cells := make([]string, len(row))
		for c, n := range row {
			cells[c] = fmt.Sprint(n)
		}
		p("| %s | %s |\n", mf.Categories[r], strings.Join(cells, " | "))
	}
	p("\n## 置信度校准（温度 %.3f）\n\n判定置信度约为 x 的工单，应约有 x 的比例判对。\n\n", mf.Temperature)
	reliabilityTable(&b, mf.Reliability)
	if h := mf.HeldOut; h != nil {
		p("\n## 留出集\n\n训练时未见过的 %d 条工单：准确率 %s，宏平均 F1 %s；置信度不低于阈值的 %s 判对 %s。\n\n| 分类 | 精确率 | 召回率 | 样本数 |\n|---|---:|---:|---:|\n",
			h.Rows, pct(h.Result.Accuracy), pct(h.Result.MacroF1), pct(h.Kept), pct(h.KeptRight))
		for _, c := range h.Result.PerCategory {
			p("| %s | %s | %s | %d |\n", c.Category, pct(c.Precision), pct(c.Recall), c.Support)
		}
		b.WriteString("\n")
		reliabilityTable(&b, h.Reliability)
	}
	a := mf.Abstain
	p("\n## 待确认阈值\n\n")
	if a.Coverage == 0 {
		p("没有任何置信度能让以上判定的准确率达到 %s：所有判定都将标记为待确认分类。请增加训练数据，或降低目标。\n", pct(a.Target))
	} else {
		p("置信度不低于 **%s** 的判定自动采用：覆盖 %s 的工单，其准确率 %s（目标 %s）；其余 %s 标记为待确认分类，附两个建议分类，由坐席选择。\n",
			pct(a.Threshold), pct(a.Coverage), pct(a.Accuracy), pct(a.Target), pct(1-a.Coverage))
	}
	return b.String()
}

// reliabilityTable writes the bins that hold decisions as a table.
func reliabilityTable(b *strings.Builder, bins []ReliabilityBin) {
	b.WriteString("| 置信度区间 | 工单数 | 平均置信度 | 实际准确率 |\n|---|---:|---:|---:|\n")
	for _, r := range bins {
		if r.Count > 0 {
			fmt.Fprintf(b, "| %s–%s | %d | %s | %s |\n", pct(r.Lo), pct(r.Hi), r.Count, pct(r.MeanConfidence), pct(r.Accuracy))
		}
	}
}

// pct renders a share as a percentage with one decimal.
func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

// diff is the chosen kind's metric minus the other kind's, in points.
func diff(rs []CVResult, chosen string, metric func(CVResult) float64) float64 {
	var d float64
	for _, r := range rs {
		if r.Kind == chosen {
			d += metric(r)
		} else {
			d -= metric(r)
		}
	}
	return d * 100
}
