package app

// This file wires the intake adapters that read from sources of their own
// (mailboxes, hotline folders) into the gateway.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/ingest/csvdrop"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/services/bus"
)

// maxInlineRaw bounds the raw mail a dead letter carries itself; larger
// mail goes to the attachment store and the dead letter names its hash,
// since a broker refuses records over its message size limit (1 MB by
// default).
const maxInlineRaw = 512 << 10

// quarantineMail records a mail the IMAP reader could not turn into a
// complaint in complaints.dlq, with the reason and the raw bytes; mail too
// large for a record goes to the evidence store.
func quarantineMail(p *bus.Producer, evidence *attachment.Store) imap.Quarantine {
	return func(ctx context.Context, q imap.Quarantined) error {
		dl := bus.DeadLetter{
			V:      bus.DeadLetterVersion,
			Source: "imap:" + q.Mailbox,
			Key:    []byte(q.ID),
			Reason: q.Reason,
			At:     time.Now().UTC(),
			Headers: map[string]string{
				"mailbox": q.Mailbox, "uidvalidity": strconv.FormatUint(uint64(q.UIDValidity), 10),
				"uid": strconv.FormatUint(uint64(q.UID), 10), "message_id": q.MessageID, "envelope_id": q.ID,
			},
			Original: q.Raw,
		}
		if len(q.Raw) > maxInlineRaw {
			att, err := evidence.Put(bytes.NewReader(q.Raw), q.ID+".eml", int64(len(q.Raw)))
			if err != nil {
				return fmt.Errorf("store quarantined mail: %w", err)
			}
			dl.Original = nil
			dl.Headers["raw_sha256"] = att.SHA256
		}
		if q.RawSHA256 != "" { // too large to read: streamed to the evidence store
			dl.Headers["raw_sha256"] = q.RawSHA256
			dl.Headers["raw_size"] = strconv.FormatInt(q.RawSize, 10)
		}
		b, err := ingest.EncodeJSON(dl)
		if err != nil {
			return err
		}
		return p.Write(ctx, bus.Message{Topic: bus.TopicDLQ, Key: []byte(q.ID), Value: b})
	}
}

// startHotline watches the hotline CSV folders in the gateway.
func (p *Process) startHotline() error {
	for _, f := range p.cfg.CSVDrop.Folders {
		if err := os.MkdirAll(f.Path, 0o750); err != nil {
			return fmt.Errorf("hotline folder %s: %w", f.Name, err)
		}
	}
	w, err := csvdrop.New(p.cfg.CSVDrop, p.references(), p.publishIntake(), p.component("csvdrop"), p.registry)
	if err != nil {
		return err
	}
	w.OnRejected(p.hotlineRejections())
	p.runners = append(p.runners, w.Run)
	return nil
}

// startMail runs the configured IMAP mailboxes.
func (p *Process) startMail(store *attachment.Store) error {
	if len(p.cfg.IMAP.Mailboxes) == 0 {
		return nil
	}
	evidence, err := attachment.OpenEvidence(filepath.Join(p.cfg.DataDir, "quarantine"))
	if err != nil {
		return err
	}
	r, err := imap.New(p.cfg.IMAP, filepath.Join(p.cfg.DataDir, "imap"), p.references(), p.publishIntake(),
		p.quarantineCounted(quarantineMail(p.producer, evidence)), store, p.component("imap"), p.registry)
	if err != nil {
		return err
	}
	r.SetEvidence(evidence)
	p.mail = r
	p.runners = append(p.runners, r.Run)
	p.server.AddDetail("imap", func() any { return r.Health() })
	return nil
}
