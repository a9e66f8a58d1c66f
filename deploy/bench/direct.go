package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/segmentio/kafka-go"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/esindex"
)

// decodeCases decodes records of the cases topic.
func decodeCases(msgs []kafka.Message) ([]router.Case, error) {
	cases := make([]router.Case, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Value, &cases[i]); err != nil {
			return nil, fmt.Errorf("case record %d: %w", i, err)
		}
	}
	return cases, nil
}

// rawBleve loads the cases into a new Bleve index with the mapping and
// documents of bleveindex and its store options (scorch, batches that
// return once persisted), in batches of batchSize: Bleve without tousu.
func rawBleve(dir string, cases []router.Case, batchSize int) (rate, error) {
	m, err := bleveindex.NewMapping()
	if err != nil {
		return rate{}, err
	}
	path := filepath.Join(dir, "raw-bleve")
	defer os.RemoveAll(path)
	idx, err := bleve.NewUsing(path, m, scorch.Name, scorch.Name, map[string]any{"unsafe_batch": false})
	if err != nil {
		return rate{}, err
	}
	defer idx.Close()
	clock := startMeter()
	now := time.Now()
	for lo := 0; lo < len(cases); lo += batchSize {
		b := idx.NewBatch()
		for _, c := range cases[lo:min(lo+batchSize, len(cases))] {
			doc, err := bleveindex.Document(c, now)
			if err != nil {
				return rate{}, err
			}
			if err := b.Index(c.ID, doc); err != nil {
				return rate{}, err
			}
		}
		if err := idx.Batch(b); err != nil {
			return rate{}, err
		}
	}
	return clock.rate(int64(len(cases)), 0), nil
}

// bulkIndexer loads the cases into a new index of the same template as
// tousu's (its own prefix) with an esutil.BulkIndexer of default settings
// and the same documents and external versions: Elasticsearch without
// tousu.
func bulkIndexer(ctx context.Context, s *stack, cases []router.Case) (rate, error) {
	alias, err := createIndex(ctx, s, s.prefix+"-direct")
	if err != nil {
		return rate{}, err
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{s.esURL}})
	if err != nil {
		return rate{}, err
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: client, Index: alias})
	if err != nil {
		return rate{}, err
	}
	var failed atomic.Int64
	now := time.Now()
	docs := make([][]byte, len(cases))
	for i, c := range cases {
		if docs[i], err = esindex.Document(c, now); err != nil {
			return rate{}, err
		}
	}
	clock := startMeter()
	for i, c := range cases {
		version := c.Revision
		err := bi.Add(ctx, esutil.BulkIndexerItem{Action: "index", DocumentID: c.ID, Version: &version, VersionType: "external_gte",
			Body: bytes.NewReader(docs[i]),
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, _ error) {
				if res.Status != 409 {
					failed.Add(1)
				}
			}})
		if err != nil {
			return rate{}, err
		}
	}
	if err := bi.Close(ctx); err != nil {
		return rate{}, err
	}
	return clock.rate(int64(len(cases)), failed.Load()), nil
}

// createIndex creates the index of prefix on the stack's Elasticsearch
// (template, versioned index, alias) as tousu's index does, and returns
// its alias. Both the indexer and the direct loader write into an index
// created before their clock starts.
func createIndex(ctx context.Context, s *stack, prefix string) (string, error) {
	replicas := 0
	cfg := esindex.Config{URLs: []string{s.esURL}, IndexPrefix: prefix, Replicas: &replicas}
	cfg.Provision()
	x, err := esindex.Open(ctx, cfg, nil, nil)
	if err != nil {
		return "", err
	}
	alias := x.Alias()
	return alias, x.Close()
}
