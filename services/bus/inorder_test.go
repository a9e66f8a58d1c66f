package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// gatedHandler holds each batch (named by its first element) until the
// test releases it, and counts the batches being handled at once.
type gatedHandler struct {
	mu      sync.Mutex
	gates   map[string]chan error
	started chan string
	now     int
	most    int
}

func newGatedHandler(tb testing.TB, batches [][]string) *gatedHandler {
	tb.Helper()
	g := &gatedHandler{gates: map[string]chan error{}, started: make(chan string, len(batches))}
	for _, b := range batches {
		g.gates[b[0]] = make(chan error, 1)
	}
	return g
}

func (g *gatedHandler) handle(ctx context.Context, batch []string) error {
	g.mu.Lock()
	g.now++
	g.most = max(g.most, g.now)
	gate := g.gates[batch[0]]
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.now--
		g.mu.Unlock()
	}()
	g.started <- batch[0]
	select {
	case err := <-gate:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finished records what finish was given, in order.
type finished struct {
	mu      sync.Mutex
	batches []string
	errs    []error
	failAt  string // finish fails on the batch starting with it
}

func (f *finished) finish(_ context.Context, batch []string, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, fmt.Sprint(batch))
	f.errs = append(f.errs, err)
	if batch[0] == f.failAt {
		return errFatal{errors.New("producer closed")}
	}
	return nil
}

// TestInOrderFinishesInStartOrder: batches of case records handled at
// once complete in any order (the index answers the later bulk request
// first), yet they are finished (committed) strictly in the order they
// were fetched, none skipped, and never more than the limit at a time.
func TestInOrderFinishesInStartOrder(t *testing.T) {
	batches := [][]string{
		{"TS20261206-0001@0", "TS20261206-0002@1"},
		{"TS20261206-0001@2", "TS20261206-0003@3", "TS20261206-0004@4"},
		{"TS20261206-0005@5", "TS20261206-0002@6"},
		{"TS20261206-0006@7", "TS20261206-0001@8"},
		{"TS20261206-0007@9"}, // alone: one by one, never at the handler
		{"TS20261206-0008@10", "TS20261206-0009@11"},
	}
	tests := []struct {
		name    string
		limit   int
		release []int // the order the handler completes the batches in
	}{
		{"reverse", 3, []int{2, 1, 0, 5, 3}},
		{"last of window first", 2, []int{1, 0, 3, 2, 5}},
		{"in order", 4, []int{0, 1, 2, 3, 5}},
		{"one at a time", 1, []int{0, 1, 2, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGatedHandler(t, batches)
			f := &finished{}
			p := newInOrder(context.Background(), tt.limit, g.handle, f.finish)
			startDone := make(chan struct{})
			go func() {
				defer close(startDone)
				for _, b := range batches {
					if !p.Start(b) {
						t.Error("Start refused a batch")
						return
					}
				}
			}()
			for _, i := range tt.release {
				// Release batch i once it is at the handler.
				for {
					first := <-g.started
					if first == batches[i][0] {
						break
					}
					g.started <- first // not this one yet: put it back
				}
				g.gates[batches[i][0]] <- nil
			}
			<-startDone
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var want []string
			for _, b := range batches {
				want = append(want, fmt.Sprint(b))
			}
			if !slices.Equal(f.batches, want) {
				t.Errorf("finished\n%v\nwant\n%v", f.batches, want)
			}
			for i, err := range f.errs {
				single := len(batches[i]) == 1
				if single != errors.Is(err, errOneByOne) || (!single && err != nil) {
					t.Errorf("batch %d finished with %v", i, err)
				}
			}
			if g.most > tt.limit {
				t.Errorf("%d batches at the handler at once, limit %d", g.most, tt.limit)
			}
		})
	}
}

// TestInOrderStopsAfterFailedFinish: once finishing a batch fails (its
// messages were not all done), no later batch is finished, even one the
// handler completed, so no offset after an unfinished message is
// committed; Close reports the failure.
func TestInOrderStopsAfterFailedFinish(t *testing.T) {
	batches := [][]string{
		{"工单A-1", "工单B-1"},
		{"工单C-1", "工单A-2"},
		{"工单D-1", "工单E-1"},
	}
	g := newGatedHandler(t, batches)
	f := &finished{failAt: "工单C-1"}
	p := newInOrder(context.Background(), 3, g.handle, f.finish)
	for _, b := range batches {
		if !p.Start(b) {
			t.Fatal("Start refused a batch")
		}
	}
	g.gates["工单D-1"] <- nil
	g.gates["工单C-1"] <- errors.New("es: status 503")
	g.gates["工单A-1"] <- nil
	<-p.Done()
	err := p.Close()
	var fatal errFatal
	if !errors.As(err, &fatal) {
		t.Fatalf("Close = %v, want the failure of finish", err)
	}
	want := []string{fmt.Sprint(batches[0]), fmt.Sprint(batches[1])}
	if !slices.Equal(f.batches, want) {
		t.Errorf("finished %v, want %v", f.batches, want)
	}
	if p.Start([]string{"工单F-1", "工单F-2"}) {
		t.Error("Start took a batch after finishing failed")
	}
}

// step is what a scripted fetch returns on one call: a message (value), a
// gap (the call waits for its deadline) or a failure; busy is what the
// busy function reports after that call.
type step struct {
	value string
	gap   bool
	fail  error
	busy  bool
}

func TestFillBatchKeepsFillingWhileBusy(t *testing.T) {
	broken := errors.New("kafka: broker 1 连接被重置")
	cases := []struct {
		name   string
		max    int
		steps  []step
		cancel bool // the consumer's ctx ends at the first gap
		want   []string
	}{
		{
			name:  "a free slot: the first gap ends the batch",
			max:   500,
			steps: []step{{value: "TS20261207-0002"}, {gap: true}, {value: "TS20261207-0003"}},
			want:  []string{"TS20261207-0001", "TS20261207-0002"},
		},
		{
			name: "every slot taken: gaps do not end it until a slot frees",
			max:  500,
			steps: []step{{value: "TS20261207-0002", busy: true}, {gap: true, busy: true}, {value: "TS20261207-0003", busy: true},
				{gap: true, busy: true}, {gap: true, busy: true}, {value: "投诉 12月7日 宽带断网", busy: false}, {gap: true}, {value: "TS20261207-0009"}},
			want: []string{"TS20261207-0001", "TS20261207-0002", "TS20261207-0003", "投诉 12月7日 宽带断网"},
		},
		{
			name:  "every slot taken: MaxBatch still ends it",
			max:   3,
			steps: []step{{value: "a", busy: true}, {gap: true, busy: true}, {value: "b", busy: true}, {value: "c", busy: true}},
			want:  []string{"TS20261207-0001", "a", "b"},
		},
		{
			name:  "every slot taken: a failed fetch ends it",
			max:   500,
			steps: []step{{value: "a", busy: true}, {fail: broken, busy: true}, {value: "b", busy: true}},
			want:  []string{"TS20261207-0001", "a"},
		},
		{
			name:   "every slot taken: the end of ctx ends it",
			max:    500,
			steps:  []step{{value: "a", busy: true}, {gap: true, busy: true}, {value: "b", busy: true}},
			cancel: true,
			want:   []string{"TS20261207-0001", "a"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			next, busy := 0, false
			fetch := func(fctx context.Context) (kafka.Message, error) {
				if next == len(tc.steps) {
					t.Fatalf("fetched past the script (%d steps)", len(tc.steps))
				}
				s := tc.steps[next]
				next++
				busy = s.busy
				switch {
				case s.gap:
					if tc.cancel {
						cancel()
					}
					<-fctx.Done()
					return kafka.Message{}, fctx.Err()
				case s.fail != nil:
					return kafka.Message{}, s.fail
				}
				return kafka.Message{Value: []byte(s.value)}, nil
			}
			batch := fillBatch(ctx, kafka.Message{Value: []byte("TS20261207-0001")}, tc.max, time.Millisecond, func() bool { return busy }, fetch)
			var got []string
			for _, m := range batch {
				got = append(got, string(m.Value))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("batch %q, want %q", got, tc.want)
			}
		})
	}
}
