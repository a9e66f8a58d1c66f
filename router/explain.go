package router

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

var _ Policy = (*Engine)(nil)

// Input is a complaint to explain, as `tousu policy explain` reads it: one
// JSON object per line in JSONL mode.
type Input struct {
	Text     string         `json:"text"`
	Subject  string         `json:"subject,omitempty"`
	Received time.Time      `json:"received"`
	Occurred time.Time      `json:"occurred,omitzero"`
	Channel  ingest.Channel `json:"channel,omitempty"`
	Source   string         `json:"source,omitempty"`
	// Customer is optional; without it the anonymous/unreachable check is
	// skipped (and the explanation says so).
	Customer *InputCustomer    `json:"customer,omitempty"`
	Extra    map[string]string `json:"extra,omitempty"`
}

// InputCustomer is the complainant of an Input.
type InputCustomer struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// complaint turns the input into the normalized complaint the engine
// decides on.
func (in Input) complaint() normalize.Complaint {
	c := normalize.Complaint{
		V:           normalize.SchemaVersion,
		Channel:     in.Channel,
		Source:      in.Source,
		ReceivedAt:  in.Received,
		OccurredAt:  in.Occurred,
		Subject:     normalize.CleanText(in.Subject),
		Description: normalize.CleanText(in.Text),
		Extra:       in.Extra,
	}
	if in.Customer != nil {
		c.Customer = normalize.Customer{Name: in.Customer.Name, Phone: in.Customer.Phone, Email: in.Customer.Email}
	}
	return c
}

func (in Input) check() error {
	var errs []error
	if strings.TrimSpace(in.Text) == "" && strings.TrimSpace(in.Subject) == "" {
		errs = append(errs, errors.New("text: must not be empty"))
	}
	if in.Received.IsZero() {
		errs = append(errs, errors.New("received: must be an RFC 3339 time"))
	}
	return errors.Join(errs...)
}

// Explain decides one complaint text and returns the verdict with every
// reason: what `tousu policy explain --pack FILE --received T [--channel C]`
// prints for the text on standard input.
func Explain(e *Engine, text string, received time.Time, channel ingest.Channel) (Verdict, error) {
	return e.Explain(Input{Text: text, Received: received, Channel: channel})
}

// Explain decides one input as of its receipt.
func (e *Engine) Explain(in Input) (Verdict, error) {
	if err := in.check(); err != nil {
		return Verdict{}, err
	}
	return e.decide(in.complaint(), in.Received, in.Customer != nil), nil
}

// ExplainJSONL reads one Input per line from r and writes one line per
// input line to w, in input order: {"line": n, ...verdict} or {"line": n,
// "error": "..."} for a line that is not a valid input. Blank lines are
// skipped. Lines are decided in parallel batches (GOMAXPROCS workers). It
// fails only when reading or writing fails, or a line exceeds 4 MiB.
func ExplainJSONL(e *Engine, r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	bw := bufio.NewWriterSize(w, 64*1024)
	workers := runtime.GOMAXPROCS(0)
	type job struct {
		n    int
		line []byte
		out  []byte
	}
	const batchSize = 512
	batch := make([]job, 0, batchSize)
	flush := func() error {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, len(batch)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(batch); i = int(next.Add(1) - 1) {
					batch[i].out = explainLine(e, batch[i].n, batch[i].line)
				}
			}()
		}
		wg.Wait()
		for _, j := range batch {
			if _, err := bw.Write(j.out); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		batch = append(batch, job{n: n, line: bytes.Clone(line)})
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// jsonlLine is one line of ExplainJSONL's output: the verdict, or the
// error that input line had.
type jsonlLine struct {
	Line  int    `json:"line"`
	Error string `json:"error,omitempty"`
	*Verdict
}

// explainLine decides one input line and returns its output line.
func explainLine(e *Engine, n int, line []byte) []byte {
	out := jsonlLine{Line: n}
	var in Input
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		out.Error = fmt.Sprintf("bad input: %v", err)
	} else if dec.More() {
		out.Error = "bad input: more than one JSON value on the line"
	} else if v, err := e.Explain(in); err != nil {
		out.Error = err.Error()
	} else {
		out.Verdict = &v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		// Verdicts hold only strings, numbers and times; this cannot happen
		// short of a time outside JSON's range, reported per line.
		buf.Reset()
		enc.Encode(jsonlLine{Line: n, Error: fmt.Sprintf("encoding verdict: %v", err)}) //nolint:errcheck
	}
	return buf.Bytes()
}
