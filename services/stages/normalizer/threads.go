package normalizer

import (
	"context"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// threadFinder finds the case an e-mail reply from another address
// answers. The pipeline partitions complaints by customer, so the router
// owning the sender cannot see a case of another customer; the normalizer
// asks the search index instead, by the clues normalize.ReplyClues reads:
// the Message-IDs the In-Reply-To and References headers name, nearest
// first, then the reference numbers the subject quotes. A reply of the
// case's own customer gets no thread: the router's duplicate and repeat
// detection threads it by the same clues.
//
// A lookup the index cannot answer is logged and counted, and the mail
// goes on without a thread (it opens a case of its own): an index outage
// must not hold up every channel's complaints. It is safe for concurrent
// use.
type threadFinder struct {
	index   caseindex.Index
	logger  *zap.Logger
	lookups *prometheus.CounterVec
}

// newThreadFinder registers its metric with reg (nil: none).
func newThreadFinder(index caseindex.Index, logger *zap.Logger, reg prometheus.Registerer) *threadFinder {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tousu_normalizer_thread_lookups_total",
		Help: "E-mail replies looked up in the index by their references and Message-IDs, by outcome: other_customer (threaded to another customer's case), own_customer, not_found, error."},
		[]string{"outcome"})
	if reg != nil {
		reg.MustRegister(lookups)
	}
	return &threadFinder{index: index, logger: logger, lookups: lookups}
}

// find returns the thread of c, or nil.
func (f *threadFinder) find(ctx context.Context, c normalize.Complaint) *normalize.Thread {
	refs, ids := normalize.ReplyClues(c)
	if len(refs) == 0 && len(ids) == 0 {
		return nil
	}
	inReplyTo := strings.Fields(c.Extra[normalize.ExtraInReplyTo])
	type clue struct{ filter, value, by string }
	var clues []clue
	for _, id := range ids {
		by := normalize.ThreadByReferences
		if slices.Contains(inReplyTo, id) {
			by = normalize.ThreadByInReplyTo
		}
		clues = append(clues, clue{"message_id", id, by})
	}
	for _, ref := range refs {
		clues = append(clues, clue{"reference", ref, normalize.ThreadBySubject})
	}
	for _, cl := range clues {
		res, err := f.index.Search(ctx, caseindex.Query{Filters: map[string]string{cl.filter: cl.value}, Limit: 1})
		if err != nil {
			f.lookups.WithLabelValues("error").Inc()
			f.logger.Warn("cannot look up the case an e-mail answers; it opens a case of its own",
				zap.String("complaint", c.ID), zap.String("by", cl.by), zap.Error(err))
			return nil
		}
		if len(res.Hits) == 0 {
			continue
		}
		cs := res.Hits[0]
		if cs.Customer.Key == c.Customer.Key {
			f.lookups.WithLabelValues("own_customer").Inc()
			return nil
		}
		f.lookups.WithLabelValues("other_customer").Inc()
		return &normalize.Thread{Case: cs.ID, Customer: cs.Customer.Key, State: router.CaseStateOf(cs), By: cl.by, Ref: cl.value}
	}
	f.lookups.WithLabelValues("not_found").Inc()
	return nil
}
