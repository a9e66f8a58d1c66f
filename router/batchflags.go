package router

import (
	"fmt"

	"github.com/tousu/tousu/normalize"
)

// BatchFlags are what batch detection raises for one candidate: the
// flag_batch actions of the cases to flag (each keyed by its Customer,
// for the router owning the case) and, once per batch, when it forms,
// the batch notice.
type BatchFlags struct {
	Actions []Action
	Notice  *Notice
}

// BatchFlagsOf decides what candidate cand raises, given its outcome bo
// in the batch window of detection configured by cfg: nothing when it is
// in no batch; else a flag action for every entry that joined the batch
// now, or, when none did (the candidate was already in the window), for
// the candidate again, since the router may have lost the first one; and
// the notice when the batch formed. The actions and the notice explain
// the batch with the same reason.
func BatchFlagsOf(cfg normalize.DedupeConfig, cand BatchCandidate, bo normalize.BatchOutcome) BatchFlags {
	if bo.Batch == "" {
		return BatchFlags{}
	}
	flag := bo.Flag
	if len(flag) == 0 { // already in the window: flag it again
		e := cand.Entry
		e.Batch = bo.Batch
		flag = []normalize.BatchEntry{e}
	}
	reason := batchReason(cfg, bo)
	var out BatchFlags
	var cases []string
	for _, e := range flag {
		out.Actions = append(out.Actions, FlagBatchAction(e, bo.Batch, reason, cand.Entry.ReceivedAt))
		cases = append(cases, e.Case)
	}
	if bo.Formed {
		n := BatchNotice(bo.Batch, cases, bo.Customers, cand, reason)
		out.Notice = &n
	}
	return out
}

// batchReason explains a batch outcome on the case and the notice.
func batchReason(cfg normalize.DedupeConfig, bo normalize.BatchOutcome) string {
	if bo.Formed {
		return fmt.Sprintf("%d 位不同客户在 %s内提交了相似度不低于 %.2f 的投诉（达到 %d 位即为批量）：形成批量投诉 %s",
			bo.Customers, durationLabel(cfg.BatchWindow), cfg.BatchSimilarity, cfg.BatchMinCustomers, bo.Batch)
	}
	return fmt.Sprintf("与批量投诉 %s 的投诉相似（相似度不低于 %.2f），在 %s内受理", bo.Batch, cfg.BatchSimilarity, durationLabel(cfg.BatchWindow))
}
