package routing

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/boltfile"
	"github.com/tousu/tousu/services/bus"
)

// changelogBucket of the router's state file: 4-byte partition -> 8-byte
// offset, the next record of router.state's partition the file has
// applied.
var changelogBucket = []byte("changelog")

// stateVersion is the payload version of a stateRecord.
const stateVersion = 1

// headerWriter names the router process that wrote a router.state
// record, so that it skips its own records when it reads them back.
const headerWriter = "tousu-writer"

// stateRecord is one record of the compacted router.state topic: the
// latest revision of a case the router holds, a customer's history (for
// duplicate and repeat detection), or the messages the router wrote to a
// customer lately (for the limits of router.Notifier), whichever it
// carries. Its key is "case/<id>", "history/<customer key>" or
// "sent/<customer key>", and its partition key is the
// customer key, so it is partitioned like complaints.normalized and
// case.actions.
//
// The router writes the records of what a call changed in the same broker
// call as the cases, and before handling messages of a partition reads what
// that partition of router.state gained since it last looked. So an
// instance that takes a partition over from another (after a rebalance, a
// crash or scaling) goes on with the customers' cases and histories where
// the other left them, and its own file is a cache of the topic.
type stateRecord struct {
	V        int    `json:"v"`
	Customer string `json:"customer"`
	// Case is the case's JSON (router.Case), as the cases topic has it.
	Case    json.RawMessage            `json:"case,omitempty"`
	History *normalize.CustomerHistory `json:"history,omitempty"`
	// Sent are the messages written to the customer within
	// router.SentKeep; an empty list forgets them.
	Sent *[]router.Sent `json:"sent,omitempty"`
}

// carries counts what a record carries: exactly one is right.
func (r stateRecord) carries() int {
	n := 0
	for _, set := range []bool{r.Case != nil, r.History != nil, r.Sent != nil} {
		if set {
			n++
		}
	}
	return n
}

// ChangelogReader reads what a partition of router.state gained;
// *bus.PartitionReader is one. CatchUp hands fn the records of partition
// from offset from up to the partition's end (as of the call), in order,
// and returns the next offset to read; it blocks until then, an error of
// fn (which stops it) or the end of ctx. Reading commits nothing: the
// caller keeps the offset. The stage calls it from one goroutine at a
// time.
type ChangelogReader interface {
	CatchUp(ctx context.Context, partition int, from int64, fn func(bus.Message) error) (next int64, err error)
}

// newWriterID names this router process on the records it writes.
func newWriterID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// stateOverhead is what a stateRecord adds to the case or history it
// carries, besides the customer key: its version and field names.
const stateOverhead = 64

// appendState appends the records of a call's changes to out: each case as
// encoded (within budget), each history bounded to budget.
func appendState(out *[]bus.Message, ch routerChanges, writer string, budget int) error {
	put := func(key, customer string, b []byte) error {
		if len(b) > budget+stateOverhead+2*len(customer) {
			return bus.Reject(fmt.Errorf("the %s record %s encodes in %d bytes, over the budget of %d", bus.TopicRouterState, key, len(b), budget))
		}
		*out = append(*out, bus.Message{Topic: bus.TopicRouterState, Key: []byte(key), PartitionKey: []byte(customer),
			Value: b, Headers: map[string]string{headerWriter: writer}})
		return nil
	}
	// carrying puts a record carrying one payload already encoded.
	carrying := func(key, customer, field string, payload []byte) error {
		b, err := stateJSON(customer, field, payload)
		if err != nil {
			return bus.Reject(err)
		}
		return put(key, customer, b)
	}
	// A tombstone deletes the key's record when router.state is
	// compacted, and its state on every router that reads it.
	tombstone := func(key, customer string) {
		*out = append(*out, bus.Message{Topic: bus.TopicRouterState, Key: []byte(key), PartitionKey: []byte(customer),
			Headers: map[string]string{headerWriter: writer}})
	}
	for _, e := range ch.erased {
		// The erased case has a customer key of its own, so its record
		// may be on another partition: the old one goes. The tombstone
		// comes first, so that on the same partition the erased case's
		// record is the latest under the key.
		tombstone("case/"+e.id, e.customer)
	}
	for _, c := range ch.cases {
		if err := carrying("case/"+c.ID, c.Customer.Key, "case", c.JSON); err != nil {
			return err
		}
	}
	for _, h := range ch.customers {
		if len(h.Cases) == 0 {
			tombstone("history/"+h.Key, h.Key)
			continue
		}
		_, b, err := boundHistory(h, budget)
		if err != nil {
			return bus.Reject(err)
		}
		if err := carrying("history/"+h.Key, h.Key, "history", b); err != nil {
			return err
		}
	}
	for _, l := range ch.sent {
		if len(l.Sent) == 0 {
			tombstone("sent/"+l.Customer, l.Customer)
			continue
		}
		b, err := ingest.EncodeJSON(stateRecord{V: stateVersion, Customer: l.Customer, Sent: &l.Sent})
		if err != nil {
			return bus.Reject(err)
		}
		if err := put("sent/"+l.Customer, l.Customer, b); err != nil {
			return err
		}
	}
	return nil
}

// boundHistory returns h with its oldest cases left out until it encodes
// in budget bytes (at least the newest case is kept), and its encoding
// (ingest.EncodeJSON).
func boundHistory(h normalize.CustomerHistory, budget int) (normalize.CustomerHistory, []byte, error) {
	b, err := ingest.EncodeJSON(h)
	if err != nil || len(b) <= budget || len(h.Cases) < 2 {
		return h, b, err
	}
	cases := slices.Clone(h.Cases)
	slices.SortStableFunc(cases, func(x, y normalize.CaseRecord) int { return y.LastActivity.Compare(x.LastActivity) })
	for len(b) > budget && len(cases) > 1 {
		cases = cases[:max(1, len(cases)*budget/len(b))]
		h.Cases = cases
		if b, err = ingest.EncodeJSON(h); err != nil {
			return h, nil, err
		}
	}
	return h, b, nil
}

// stateJSON is the encoding of a stateRecord of customer carrying one
// payload already encoded (field "case" or "history"): the bytes
// ingest.EncodeJSON gives for the record, without encoding or compacting
// the payload again.
func stateJSON(customer, field string, payload []byte) ([]byte, error) {
	c, err := ingest.EncodeJSON(customer)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(`{"v":,"customer":,"":}`)+4+len(c)+len(field)+len(payload))
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, stateVersion, 10)
	b = append(b, `,"customer":`...)
	b = append(b, c...)
	b = append(b, `,"`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = append(b, payload...)
	return append(b, '}'), nil
}

// Applied returns the next offset of router.state's partition the file
// has applied (0 when none).
func (h *History) Applied(partition int) (int64, error) {
	var next int64
	err := h.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(changelogBucket).Get(partitionKey4(partition)); len(v) == 8 {
			next = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return next, err
}

// Restore applies records of router.state's partition, in order, and
// remembers next as the partition's next offset, in one transaction. A
// record replaces the case or history it carries. Records written by
// writer (this process) are skipped: the file has them already, or the
// messages that made them are being decided again.
//
// A record that can never be applied (not JSON, no customer, neither one
// case, history nor sent log, a case without an id) is skipped and
// returned in skipped, with its reason, for the caller to log and count:
// the state it was meant to carry is not in it, and waiting would stall
// every customer of the partition for good. A record of a state version
// this router does not know is an error (the batch is retried, the
// partition waits): a newer router wrote it, and the upgrade of this one
// applies it rather than losing it.
func (h *History) Restore(partition int, records []bus.Message, next int64, writer string) (skipped []error, err error) {
	err = h.db.Update(func(tx *bolt.Tx) error {
		skipped = nil
		for _, m := range records {
			if m.Headers[headerWriter] == writer {
				continue
			}
			if m.Value == nil {
				if err := forgetRecord(tx, string(m.Key)); err != nil {
					return err
				}
				continue
			}
			var r stateRecord
			if err := json.Unmarshal(m.Value, &r); err != nil {
				skipped = append(skipped, fmt.Errorf("router.state partition %d offset %d: %w", partition, m.Offset, err))
				continue
			}
			if r.V > stateVersion {
				return fmt.Errorf("router.state partition %d offset %d: version %d, this router knows %d", partition, m.Offset, r.V, stateVersion)
			}
			if r.V != stateVersion || r.Customer == "" || r.carries() != 1 {
				skipped = append(skipped, fmt.Errorf("router.state partition %d offset %d: version %d, customer %q: not one case, history or sent log",
					partition, m.Offset, r.V, ingest.MaskText(r.Customer)))
				continue
			}
			var err error
			switch {
			case r.Sent != nil:
				err = putSent(tx, sentLog{Customer: r.Customer, Sent: *r.Sent})
			case r.Case != nil:
				c := storedCase{JSON: r.Case}
				if err := json.Unmarshal(r.Case, &c.Case); err != nil || c.ID == "" {
					skipped = append(skipped, fmt.Errorf("router.state partition %d offset %d: not a case: %v", partition, m.Offset, err))
					continue
				}
				err = putCase(tx, c)
			default:
				r.History.Key = r.Customer
				err = putCustomer(tx, *r.History)
			}
			if err != nil {
				return err
			}
		}
		return putApplied(tx, partition, next)
	})
	if err != nil {
		return nil, err
	}
	return skipped, nil
}

// forgetRecord applies the tombstone of a router.state key: the
// customer's history or sent log goes; a case goes unless the file has
// its erased revision, written under the case's new customer key, which
// another partition may have brought first.
func forgetRecord(tx *bolt.Tx, key string) error {
	kind, id, _ := strings.Cut(key, "/")
	switch kind {
	case "history":
		return putCustomer(tx, normalize.CustomerHistory{Key: id})
	case "sent":
		return tx.Bucket(sentBucket).Delete([]byte(id))
	case "case":
		var c router.Case
		if v := tx.Bucket(casesBucket).Get([]byte(id)); v == nil || json.Unmarshal(v, &c) == nil && c.Erased != nil {
			return nil
		}
		return tx.Bucket(casesBucket).Delete([]byte(id))
	}
	return nil
}

// putCase stores a case and, when finished, files it under the time it
// was last changed, to forget it later.
func putCase(tx *bolt.Tx, c storedCase) error {
	if err := tx.Bucket(casesBucket).Put([]byte(c.ID), c.JSON); err != nil {
		return err
	}
	if c.Finished() {
		return tx.Bucket(finishedBucket).Put(boltfile.TimeKey(c.UpdatedAt, c.ID), nil)
	}
	return nil
}

// partitionKey4 is a partition number as a 4-byte key.
func partitionKey4(p int) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(p))
}

// catchUp applies what the router.state partitions of msgs gained since
// this instance last read them, so that it decides with the latest state
// of their customers whoever wrote it. Records another writer wrote are
// restored at once, in a transaction of their own. Where a partition
// gained only this writer's records (the file has them, or their messages
// are being decided again), which is the rule while one instance owns the
// partition, nothing needs restoring: catchUp returns the partition's next
// offset for the call's state commit to record, which spares a synced
// transaction per partition and call. If the call fails, the offset stays
// where it was and the records are read again, and skipped, next time.
func (s *Stage) catchUp(ctx context.Context, msgs []bus.Message) (map[int]int64, error) {
	if s.changelog == nil {
		return nil, nil
	}
	var partitions []int
	for _, m := range msgs {
		if !slices.Contains(partitions, m.Partition) {
			partitions = append(partitions, m.Partition)
		}
	}
	applied := map[int]int64{}
	for _, p := range partitions {
		from, err := s.state.Applied(p)
		if err != nil {
			return nil, fmt.Errorf("router state: %w", err)
		}
		var records []bus.Message
		foreign := false
		next, err := s.changelog.CatchUp(ctx, p, from, func(m bus.Message) error {
			records = append(records, m)
			foreign = foreign || m.Headers[headerWriter] != s.writer
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("catch up with %s partition %d: %w", bus.TopicRouterState, p, err)
		}
		switch {
		case next == from:
		case !foreign:
			applied[p] = next
		default:
			skipped, err := s.state.Restore(p, records, next, s.writer)
			if err != nil {
				return nil, fmt.Errorf("restore router state: %w", err)
			}
			for _, reason := range skipped {
				s.logger.Error("router.state record skipped: it can never be applied", zap.Error(reason))
				s.metrics.stateSkipped.Inc()
			}
		}
	}
	return applied, nil
}

// putApplied records next as the next offset of router.state's partition
// the file has applied.
func putApplied(tx *bolt.Tx, partition int, next int64) error {
	return tx.Bucket(changelogBucket).Put(partitionKey4(partition), binary.BigEndian.AppendUint64(nil, uint64(next)))
}
