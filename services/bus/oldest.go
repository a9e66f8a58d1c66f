package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// oldestFetchBytes bounds the fetch of one record's timestamp: Kafka
// answers at least the first record of the batch even when it is larger.
const oldestFetchBytes = 64 << 10

// oldestMaxSkip bounds the records read past in a batch that starts before
// the offset asked for.
const oldestMaxSkip = 10000

// RecordTimes returns, for each partition of topic in offsets, the
// timestamp of the record at that offset: for a consumer group, the
// oldest record it has not processed yet when offsets are its committed
// offsets. A partition whose record is not there (the offset is at the
// end, or expired) is left out. Each partition costs one small fetch that
// does not wait for new records; give ctx a deadline.
func RecordTimes(ctx context.Context, cfg Config, topic string, offsets map[int]int64) (map[int]time.Time, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	client, release := newClient(cfg)
	defer release()
	out := make(map[int]time.Time, len(offsets))
	var errs []error
	for partition, offset := range offsets {
		t, ok, err := recordTime(ctx, client, topic, partition, offset)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("bus: record %d of %s/%d: %w", offset, topic, partition, err))
		case ok:
			out[partition] = t
		}
	}
	return out, errors.Join(errs...)
}

// recordTime fetches the record at offset of one partition and returns its
// timestamp; ok is false when there is no record there.
func recordTime(ctx context.Context, client *kafka.Client, topic string, partition int, offset int64) (time.Time, bool, error) {
	resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: oldestFetchBytes, MaxWait: 10 * time.Millisecond})
	if err != nil {
		return time.Time{}, false, err
	}
	if errors.Is(resp.Error, kafka.OffsetOutOfRange) {
		return time.Time{}, false, nil
	}
	if resp.Error != nil {
		return time.Time{}, false, resp.Error
	}
	if c, ok := resp.Records.(io.Closer); ok {
		defer c.Close()
	}
	for range oldestMaxSkip {
		r, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return time.Time{}, false, nil
		}
		if err != nil {
			return time.Time{}, false, err
		}
		if r.Offset >= offset {
			return r.Time, true, nil
		}
	}
	return time.Time{}, false, nil
}
