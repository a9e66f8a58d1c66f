package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/stages/routing"
)

// policyTrain trains a category model for a pack from labelled work
// orders (and the agents' corrections) and writes it with its report.
func policyTrain(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	pack := fl.String("pack", "", "policy pack `FILE` (or builtin:NAME) the model is for")
	examples := fl.String("examples", "", "training `FILE` of labelled work orders: CSV or TSV with a header, or JSON lines (.jsonl); UTF-8 or GB18030")
	textCol := fl.String("text-col", router.DefaultTextColumn, "`COLUMN` (or JSON key) holding the work order's text")
	labelCol := fl.String("label-col", router.DefaultLabelColumn, "`COLUMN` (or JSON key) holding its category")
	labelMap := fl.String("label-map", "", "YAML `FILE` mapping labels that are not the pack's categories onto them (标签: 分类; \"\" leaves the rows out)")
	heldout := fl.String("heldout", "", "held-out `FILE` (same columns and label map) the trained model is measured on; the result goes into the manifest and the report")
	out := fl.String("out", "", "`DIR` to write the model to (manifest.json, weights.bin)")
	report := fl.String("report", "", "write the training report as Markdown to `FILE`")
	corrections := fl.String("corrections-from", "", "router state `FILE` (DATA/router-history.db, router stopped) whose category corrections of this pack join the training")
	weight := fl.Float64("correction-weight", 2, "`WEIGHT` of one correction relative to one work order")
	export := fl.String("export-corrections", "", "write the pack's corrections from -corrections-from as CSV (内容,类别) to `FILE`, to merge into the next training file")
	kind := fl.String("kind", "", "force the model `KIND` (logistic or naive_bayes); default: the better by cross-validation")
	target := fl.Float64("target", 0.95, "`ACCURACY` the decisions kept above the abstain threshold must reach in cross-validation")
	folds := fl.Int("folds", 5, "`N` folds of stratified cross-validation")
	return func(rest []string, x cmdIO) int {
		fail := func(format string, args ...any) int {
			fmt.Fprintf(x.stderr, "tousu policy train: "+format+"\n", args...)
			return exitUsage
		}
		switch {
		case len(rest) > 0:
			return fail("unexpected argument %q, e.g. %s", rest[0], c.examples[0])
		case *pack == "":
			return fail("-pack is required, e.g. %s", c.examples[0])
		case *examples == "" && *export == "":
			return fail("-examples is required, e.g. %s", c.examples[0])
		case *examples != "" && *out == "":
			return fail("-out is required: the directory the model is written to")
		case *export != "" && *corrections == "":
			return fail("-export-corrections needs -corrections-from, the router's state file")
		case *weight <= 0:
			return fail("-correction-weight must be positive")
		}
		p, err := router.LoadPack(*pack)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", packHint(*pack, err))
			return exitFailure
		}
		failed := func(err error) int {
			fmt.Fprintf(x.stderr, "tousu policy train: %v\n", err)
			return exitFailure
		}
		var fixes []router.LabelledRow
		if *corrections != "" {
			if fixes, err = packCorrections(p, *corrections); err != nil {
				return failed(err)
			}
			fmt.Fprintf(x.stdout, "corrections: %d category corrections of pack %s\n", len(fixes), p.Name)
		}
		if *export != "" {
			if err := writeRows(*export, fixes); err != nil {
				return failed(err)
			}
			fmt.Fprintf(x.stdout, "corrections written to %s\n", *export)
			if *examples == "" {
				return exitOK
			}
		}
		rows, err := readTraining(p, *examples, router.ReadOptions{TextColumn: *textCol, LabelColumn: *labelCol}, *labelMap, x)
		if err != nil {
			return failed(err)
		}
		learnt, _, err := router.MapLabels(p, fixes, nil, *weight)
		if err != nil {
			return failed(err)
		}
		m, err := router.Train(p, append(rows, learnt...), router.TrainConfig{Kind: *kind, Target: *target, Folds: *folds})
		if err != nil {
			return failed(err)
		}
		mf := m.Manifest
		for _, r := range mf.CV {
			fmt.Fprintf(x.stdout, "%-12s cross-validated accuracy %.3f, macro-F1 %.3f\n", r.Kind, r.Accuracy, r.MacroF1)
		}
		fmt.Fprintf(x.stdout, "chosen: %s; abstain below confidence %.3f (%.1f%% of decisions kept, %.3f right)\n", mf.Chosen, mf.Abstain.Threshold, mf.Abstain.Coverage*100, mf.Abstain.Accuracy)
		if *heldout != "" {
			rows, err := readTraining(p, *heldout, router.ReadOptions{TextColumn: *textCol, LabelColumn: *labelCol}, *labelMap, x)
			if err != nil {
				return failed(err)
			}
			ev := m.Evaluate(rows)
			fmt.Fprintf(x.stdout, "held out: %d rows, accuracy %.3f, macro-F1 %.3f; %.1f%% kept above the threshold, %.3f of them right\n",
				ev.Rows, ev.Result.Accuracy, ev.Result.MacroF1, ev.Kept*100, ev.KeptRight)
		}
		if err := m.Save(*out); err != nil {
			return failed(err)
		}
		if *report != "" {
			if err := os.WriteFile(*report, []byte(m.Report()), 0o644); err != nil {
				return failed(err)
			}
		}
		fmt.Fprintf(x.stdout, "model %s written to %s\n", m.Manifest.ID, *out)
		return exitOK
	}
}

// readTraining reads the training file and maps its labels.
func readTraining(p *router.Pack, path string, opt router.ReadOptions, labelMap string, x cmdIO) ([]router.Labelled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, skipped, err := router.ReadLabelled(f, path, opt)
	if err != nil {
		return nil, err
	}
	var mapping map[string]string
	if labelMap != "" {
		data, err := os.ReadFile(labelMap)
		if err != nil {
			return nil, err
		}
		if err := configs.DecodeStrict(data, &mapping); err != nil {
			return nil, fmt.Errorf("%s: %w", labelMap, err)
		}
	}
	out, dropped, err := router.MapLabels(p, rows, mapping, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(x.stdout, "%s: %d rows read, %d without text skipped, %d left out by the label map\n", path, len(rows), skipped, dropped)
	return out, nil
}

// packCorrections reads the category corrections of p (any version) from
// a router's state file, those naming a category p still has.
func packCorrections(p *router.Pack, path string) ([]router.LabelledRow, error) {
	byPack, err := routing.ReadCorrections(path)
	if err != nil {
		return nil, err
	}
	var cs []router.Correction
	for name, pcs := range byPack {
		if n, _, _ := strings.Cut(name, "@"); n == p.Name {
			cs = append(cs, pcs...)
		}
	}
	var cats []string
	for _, c := range p.Categories.List {
		cats = append(cats, c.Name)
	}
	rows := router.CorrectionRows(cs)
	return slices.DeleteFunc(rows, func(r router.LabelledRow) bool { return !slices.Contains(cats, r.Label) }), nil
}

// writeRows writes rows as a training file: CSV, header 内容,类别.
func writeRows(path string, rows []router.LabelledRow) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{router.DefaultTextColumn, router.DefaultLabelColumn}) //nolint:errcheck // w.Error reports it
	for _, r := range rows {
		w.Write([]string{r.Text, r.Label}) //nolint:errcheck // w.Error reports it
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}
