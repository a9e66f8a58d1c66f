package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/internal/smtptest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/stages/sender"
	"github.com/tousu/tousu/sinks/outbound"
)

// How a topic's readers treat a record that can never be used.
const (
	// deadLettered: the consumer groups reading the topic write it to
	// complaints.dlq with its reason and original bytes, and commit past
	// it.
	deadLettered = "dead-lettered"
	// skipped: the topic is state every instance follows whole (a
	// Follower, no group, no commit): its followers log the record, count
	// it in tousu_follower_messages_rejected_total and go on. A dead
	// letter would be written again by every follower at every start.
	skipped = "skipped"
	// kept: complaints.dlq itself; its follower keeps what does not
	// decode as a dead letter of its own, to look at on the console.
	kept = "kept"
	// stateSkipped: router.state, read by the router that takes a
	// partition over; tousu_router_state_skipped_total counts it (see
	// routing.History.Restore).
	stateSkipped = "state skipped"
)

// poisonRow is what TestPoisonInEveryTopicOnRealKafka writes into one
// topic and how the topic's readers must treat it.
type poisonRow struct {
	topic   string
	treated string
	poisons []poisonRecord
}

// poisonRecord is one record that can never be used.
type poisonRecord struct {
	name  string
	value []byte
	// groups are the consumer groups that must dead-letter it; nil: every
	// group that reads the topic.
	groups []string
}

// gbk is "网速太慢，12月3号起" in GBK, which a gateway that trusted a
// charset label might have written as is: bytes that are not JSON (nor
// UTF-8).
var gbk = []byte("\xcd\xf8\xcb\xd9\xcc\xab\xc2\xfd\xa3\xac12\xd4\xc23\xba\xc5\xc6\xf0")

// notJSON and futureVersion are the two poisons every topic gets: bytes
// that do not decode, and a payload of a schema version no reader knows.
func notJSON(value []byte) poisonRecord { return poisonRecord{name: "not JSON", value: value} }

func futureVersion(value string) poisonRecord {
	return poisonRecord{name: "schema version from the future", value: []byte(value)}
}

// poisonRows are the rows of TestPoisonInEveryTopicOnRealKafka, one per
// topic of deploy/topics.yaml (the test fails for a topic without one).
func poisonRows(run string) []poisonRow {
	return []poisonRow{
		{bus.TopicRaw, deadLettered, []poisonRecord{
			notJSON(gbk),
			futureVersion(`{"v":2,"id":"webform:v2-` + run + `","reference":"TS-V2","channel":"webform","description":"新版表单 12月1日起网速只有2M"}`),
		}},
		{bus.TopicNormalized, deadLettered, []poisonRecord{
			notJSON([]byte(`{"v":1,"id":"api:trunc-` + run + `","customer":{"key":"phone:+86138`)),
			futureVersion(`{"v":99,"id":"api:v99-` + run + `","description":"套餐被莫名其妙改成了199元的"}`),
		}},
		{bus.TopicCases, deadLettered, []poisonRecord{
			notJSON([]byte("\x00\x00\x00\x05\x02TS2026120600017")),
			{name: "case without an id", value: []byte(`{"v":1,"id":"","status":"open","description":"话费多扣30元"}`), groups: []string{"tousu-indexer"}},
		}},
		{bus.TopicActions, deadLettered, []poisonRecord{
			notJSON([]byte("kind=take&case=TS20261206001&note=%E5%B7%B2%E8%81%94%E7%B3%BB")),
			futureVersion(`{"v":7,"id":"act-` + run + `","kind":"take","case":"TS20261206001"}`),
		}},
		{bus.TopicBatch, deadLettered, []poisonRecord{
			notJSON([]byte("小区宽带12月1号起全部断网\n")),
			futureVersion(`{"v":5,"case":"TS20261206001","pack":"telecom"}`),
		}},
		{bus.TopicAlerts, deadLettered, []poisonRecord{
			notJSON([]byte("ALERT 重大投诉 TS20261206001")),
			futureVersion(`{"v":3,"id":"alert-` + run + `","kind":"escalation","case":"TS20261206001"}`),
		}},
		{bus.TopicOutbox, deadLettered, []poisonRecord{
			notJSON([]byte("尊敬的客户，您的投诉已受理，编号TS20261206001")),
			futureVersion(`{"v":4,"id":"out-` + run + `","kind":"ack","to":"13800138000"}`),
		}},
		{bus.TopicDLQ, kept, []poisonRecord{notJSON(gbk)}},
		{bus.TopicCorrections, skipped, []poisonRecord{
			notJSON([]byte("category=服务问题")),
			{name: "no pack, no case", value: []byte(`{"v":1,"pack":"","case":"","field":"category","value":"服务问题"}`)},
		}},
		{bus.TopicRouterState, stateSkipped, []poisonRecord{
			notJSON([]byte(`{"v":1,"customer":"phone:+8613912345678","history":{"cases":[{"id":"TS2026`)),
			{name: "neither case nor history", value: []byte(`{"v":1,"customer":"phone:+8613912345678"}`)},
		}},
		{bus.TopicLedger, skipped, []poisonRecord{notJSON(gbk), futureVersion(`{"v":9,"id":"idem-` + run + `","key":"x"}`)}},
		{bus.TopicRates, skipped, []poisonRecord{notJSON([]byte("127.0.0.1 form")), futureVersion(`{"v":9,"id":"rate-` + run + `","key":"form/127.0.0.1"}`)}},
		{bus.TopicOutcomes, skipped, []poisonRecord{notJSON(gbk), futureVersion(`{"v":9,"action":"act-` + run + `","case":"TS20261206001"}`)}},
		{bus.TopicAccounts, skipped, []poisonRecord{notJSON([]byte("name=1001&role=agent")), futureVersion(`{"v":9,"id":"acc-` + run + `","op":"create"}`)}},
		{bus.TopicHeartbeat, skipped, []poisonRecord{notJSON(gbk), futureVersion(`{"v":9,"process":"poison-` + run + `"}`)}},
	}
}

// appKafka is the Kafka node of this package's tests that run every
// target on Kafka: tousu's topics and consumer groups have fixed names, so
// a tousu of another package's test on a shared node (services/tousu's, run
// beside this package) would take a share of the partitions and decide
// this test's complaints.
var appKafka = servertest.Server{Env: "TOUSU_TEST_APP_KAFKA",
	Hint: `a Kafka node no other package's test uses: TOUSU_DEV_RUN=/tmp/tousu-dev-app TOUSU_DEV_KAFKA_PORT=19112 TOUSU_DEV_KAFKA_CONTROLLER_PORT=19113 TOUSU_DEV_KAFKA_SASL_PORT=19111 deploy/dev/services.sh start kafka`}

// TestPoisonInEveryTopicOnRealKafka writes, into every topic tousu reads
// (deploy/topics.yaml lists them), records that can never be used
// between good records of the same partition, on real Apache Kafka with
// every target running in one process: each poison is dead-lettered with
// its reason and original bytes by every consumer group that reads the
// topic, or skipped and counted on the topics every instance follows
// whole; the good record after it is handled (the group commits past it,
// the follower goes on); and afterwards every group has caught up and a
// new complaint becomes a case.
func TestPoisonInEveryTopicOnRealKafka(t *testing.T) {
	kafka := servertest.Require(t, appKafka)
	run := fmt.Sprint(time.Now().UnixNano() % 1e9)
	// The outbox's acknowledgements go to a relay that takes every mail.
	relay := (&smtptest.Server{}).Start(t)
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Bus.Brokers = strings.Split(kafka, ",")
		c.Security.Secret = secret.Inline("poison-test-server-secret-0123456789")
		c.Escalator.Interval = 50 * time.Millisecond
		c.Heartbeat.Every = time.Second
		on := true
		c.Router.Outbound.Ack = &on
		c.Sender.SMTP = []sender.SMTPSender{{SMTPConfig: outbound.SMTPConfig{Name: "relay", Host: "127.0.0.1", Port: relay.Port(t), TLS: "none",
			From: "投诉受理中心 <kefu@tousu.test>"}}}
	})
	rows := poisonRows(run)
	checkEveryTopicHasARow(t, r, rows)

	// Records of every topic as tousu writes them, the latest of each kept
	// to be written again after the poison: every reader is idempotent, so
	// a record it handled before is a good record again.
	latest := followTopics(t, r.cfg.Bus, rows)
	start := time.Now().Add(-time.Second)
	letters := followDeadLetters(t, r.cfg.Bus, start)
	customer := seedEveryTopic(t, r, run)
	if !polltest.Within(polltest.Patience, func() bool { return len(latest.missing()) == 0 }) {
		t.Fatalf("tousu wrote nothing to %v", latest.missing())
	}

	for _, row := range rows {
		t.Run(row.topic, func(t *testing.T) {
			good := latest.get(row.topic)
			// The dead-letter list masks digits that may be a phone number:
			// the dead letters of this run are told by letters.
			dlqKey := "poison-" + strings.Map(func(r rune) rune { return 'a' + r - '0' }, run)
			switch row.topic {
			case bus.TopicDLQ:
				good = goodDeadLetter(t, dlqKey)
			case bus.TopicRouterState:
				// The router reads router.state for the customers of the
				// complaints it decides: the poison goes to the partition
				// of the seeded customer, who complains again below.
				good.PartitionKey = []byte(customer)
			}
			// The poison and the good record go to one partition: the one
			// the good record's key (or partition key) chooses.
			part := good.PartitionKey
			if len(part) == 0 {
				part = good.Key
			}
			before := readerCounts(t, r.registry.Registry, row.topic)
			ctx := context.Background()
			for _, p := range row.poisons {
				key := good.Key
				switch row.topic {
				case bus.TopicDLQ:
					key = []byte(dlqKey)
				case bus.TopicRouterState:
					key = []byte("history/poison-" + run)
				}
				if err := r.producer.Write(ctx, bus.Message{Topic: row.topic, Key: key, PartitionKey: part, Value: p.value}); err != nil {
					t.Fatalf("%s: %v", p.name, err)
				}
			}
			if row.topic == bus.TopicRouterState {
				// The router reads router.state when it decides a complaint
				// of the partition: the seeded customer complains again.
				ref := r.submit(t, "补充："+run+" 12月5日又断网了一整天，客服说查不到", "")
				r.waitCase(t, ref, func(router.Case) bool { return true })
			} else {
				if err := r.producer.Write(ctx, bus.Message{Topic: row.topic, Key: good.Key, PartitionKey: part, Headers: good.Headers, Value: good.Value}); err != nil {
					t.Fatal(err)
				}
			}
			switch row.treated {
			case deadLettered:
				groups := readersOf(r, row.topic)
				for _, p := range row.poisons {
					want := p.groups
					if want == nil {
						want = groups
					}
					for _, g := range want {
						if dl := letters.await(t, row.topic, g, good.Key, p.value); dl.Reason == "" {
							t.Errorf("%s: dead letter of %s %+v, want the reason", p.name, g, dl)
						}
					}
				}
				for _, g := range groups {
					caughtUp(t, r.cfg.Bus, g, row.topic)
					if letters.has(row.topic, g, good.Key, good.Value) {
						t.Errorf("the good record after the poison was dead-lettered by %s", g)
					}
				}
			case skipped:
				polltest.Until(t, "the followers skipped the poison and handled the good record", func() bool {
					now := readerCounts(t, r.registry.Registry, row.topic)
					return now.rejected-before.rejected >= float64(len(row.poisons)) && now.handled-before.handled >= 1
				})
			case kept:
				polltest.Until(t, "the undecodable dead letter on the list", func() bool {
					var list httpapi.DeadLetterList
					r.api(t, http.MethodGet, httpapi.PathDeadLetters+"?limit=500", nil, nil, &list)
					return slices.ContainsFunc(list.Entries, func(e httpapi.DeadLetterItem) bool {
						return e.At.After(start) && e.Size == len(gbk) && strings.Contains(e.Reason, "死信无法解析")
					}) && slices.ContainsFunc(list.Entries, func(e httpapi.DeadLetterItem) bool { return strings.Contains(e.Reason, dlqKey) })
				})
			case stateSkipped:
				var now counts
				if !polltest.Within(polltest.Patience, func() bool {
					now = readerCounts(t, r.registry.Registry, row.topic)
					return now.stateSkipped-before.stateSkipped == float64(len(row.poisons))
				}) {
					t.Fatalf("the router skipped %v router.state records, want %d", now.stateSkipped-before.stateSkipped, len(row.poisons))
				}
			}
		})
	}

	// Nothing crashed or stalled: the process runs, every group has
	// committed all there is, and a new complaint becomes a case.
	select {
	case err := <-r.done:
		t.Fatalf("tousu stopped: %v", err)
	default:
	}
	for g, topics := range r.groups {
		for _, topic := range topics {
			caughtUp(t, r.cfg.Bus, g, topic)
		}
	}
	ref := r.submit(t, "毒消息之后 "+run+" 手机信号差了三天，打电话总是断线", "")
	r.waitCase(t, ref, func(router.Case) bool { return true })
}

// checkEveryTopicHasARow fails the test for a topic of deploy/topics.yaml
// without a row, or a topic a consumer group of the process reads whose
// row says nothing is dead-lettered.
func checkEveryTopicHasARow(tb testing.TB, r *running, rows []poisonRow) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "deploy", "topics.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	specs, err := bus.ParseTopics(b)
	if err != nil {
		tb.Fatal(err)
	}
	treated := map[string]string{}
	for _, row := range rows {
		treated[row.topic] = row.treated
	}
	for _, s := range specs {
		if treated[s.Name] == "" {
			tb.Errorf("topic %s of deploy/topics.yaml has no poison row", s.Name)
		}
	}
	for g, topics := range r.groups {
		for _, topic := range topics {
			if treated[topic] != deadLettered {
				tb.Errorf("group %s reads %s, whose row is %q, not %q", g, topic, treated[topic], deadLettered)
			}
		}
	}
}

// readersOf returns the consumer groups of r that read topic.
func readersOf(r *running, topic string) []string {
	var out []string
	for g, topics := range r.groups {
		if slices.Contains(topics, topic) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// seedEveryTopic makes tousu write to every topic: a 重大 complaint with
// an Idempotency-Key (raw, normalized, cases, batch, router.state, the
// ledger, an immediate alert), one from the web form (the rates), and an agent taking and recategorizing its case (actions,
// outcomes, corrections); the form's complaint has an e-mail address for
// the acknowledgement (the outbox). The accounts and heartbeats come by
// themselves. It returns the customer key of the complaints r.submit
// sends.
func seedEveryTopic(tb testing.TB, r *running, run string) string {
	tb.Helper()
	ref := r.submit(tb, "我要找记者曝光！"+run+" 宽带12月3号起天天断网，报修两次没人来", "idem-"+run)
	c := r.waitCase(tb, ref, func(c router.Case) bool { return c.Customer.Phone == "+8613912345678" })
	s := newFormSession(tb, r.base)
	fields := s.get(tb, "/")
	fields["name"], fields["phone"], fields["email"], fields["subject"], fields["description"] = "王五", "137 0000 1111", "wangwu@example.cn", "话费投诉",
		"话费多扣30元，客服说查不到 "+run
	if code, page := s.post(tb, "/complaints", fields, "", nil); code != http.StatusOK {
		tb.Fatalf("form: %d %s", code, page)
	}
	for _, act := range []map[string]string{{"kind": "take"}, {"kind": "recategorize", "category": "服务问题"}} {
		if code := r.act(tb, testToken, c.ID, act); code != http.StatusAccepted {
			tb.Fatalf("action %v: %d", act, code)
		}
	}
	// The API shows a pseudonym of the key; the router partitions by the
	// key itself, the customer's phone in E.164.
	phone, err := ingest.PhoneE164("13912345678")
	if err != nil {
		tb.Fatal(err)
	}
	return "phone:" + phone
}

// goodDeadLetter is a dead letter as a consumer writes it, its reason
// naming the run.
func goodDeadLetter(tb testing.TB, run string) bus.Message {
	tb.Helper()
	b, err := json.Marshal(bus.DeadLetter{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Key: []byte("api:good-" + run), Reason: "好的死信 " + run,
		Original: []byte(`{"v":1}`), OriginalSize: 7, At: time.Now().UTC(), Group: "tousu-normalizer"})
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicDLQ, Key: []byte("api:good-" + run), Value: b}
}

// latestRecords keeps the latest record of each followed topic.
type latestRecords struct {
	mu   sync.Mutex
	last map[string]bus.Message
	want []string
}

func (l *latestRecords) get(topic string) bus.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[topic]
}

// missing returns the topics without a record yet.
func (l *latestRecords) missing() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, t := range l.want {
		if _, ok := l.last[t]; !ok {
			out = append(out, t)
		}
	}
	return out
}

// followTopics follows the topics of rows (but complaints.dlq and
// router.state, whose good records the test makes itself) until the test
// ends, keeping the latest record of each that is not a poison.
func followTopics(tb testing.TB, cfg bus.Config, rows []poisonRow) *latestRecords {
	tb.Helper()
	l := &latestRecords{last: map[string]bus.Message{}}
	for _, row := range rows {
		if row.topic == bus.TopicDLQ || row.topic == bus.TopicRouterState {
			continue
		}
		l.want = append(l.want, row.topic)
		startTestFollower(tb, cfg, row.topic, func(m bus.Message) {
			if slices.ContainsFunc(row.poisons, func(p poisonRecord) bool { return bytes.Equal(p.value, m.Value) }) || m.Value == nil {
				return
			}
			l.mu.Lock()
			l.last[row.topic] = m
			l.mu.Unlock()
		})
	}
	return l
}

// startTestFollower follows topic from its start until the test ends.
func startTestFollower(tb testing.TB, cfg bus.Config, topic string, h func(bus.Message)) {
	tb.Helper()
	f, err := bus.NewFollower(cfg, bus.FollowerConfig{Topic: topic}, func(_ context.Context, m bus.Message) error {
		h(m)
		return nil
	}, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
}

// deadLetterLog is every dead letter on complaints.dlq written since the
// test started (earlier runs left theirs, of the same poisons).
type deadLetterLog struct {
	mu      sync.Mutex
	letters []bus.DeadLetter
}

func followDeadLetters(tb testing.TB, cfg bus.Config, since time.Time) *deadLetterLog {
	tb.Helper()
	d := &deadLetterLog{}
	startTestFollower(tb, cfg, bus.TopicDLQ, func(m bus.Message) {
		var dl bus.DeadLetter
		if json.Unmarshal(m.Value, &dl) == nil && dl.At.After(since) {
			d.mu.Lock()
			d.letters = append(d.letters, dl)
			d.mu.Unlock()
		}
	})
	return d
}

// find returns the dead letter group wrote of the record of topic with
// key and original. (The escalator reads cases from the start at every
// start: it dead-letters the poisons of earlier runs again, under their
// keys.)
func (d *deadLetterLog) find(topic, group string, key, original []byte) (bus.DeadLetter, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dl := range d.letters {
		if dl.Topic == topic && dl.Group == group && bytes.Equal(dl.Key, key) && bytes.Equal(dl.Original, original) {
			return dl, true
		}
	}
	return bus.DeadLetter{}, false
}

func (d *deadLetterLog) has(topic, group string, key, original []byte) bool {
	_, ok := d.find(topic, group, key, original)
	return ok
}

// await waits for the dead letter group writes of the record of topic
// with key and original.
func (d *deadLetterLog) await(tb testing.TB, topic, group string, key, original []byte) bus.DeadLetter {
	tb.Helper()
	var dl bus.DeadLetter
	ok := polltest.Within(polltest.Patience, func() bool {
		var found bool
		dl, found = d.find(topic, group, key, original)
		return found
	})
	if !ok {
		tb.Fatalf("no dead letter from %s of %s's %.40q", group, topic, original)
	}
	return dl
}

// caughtUp waits until group has committed every record of topic.
func caughtUp(tb testing.TB, cfg bus.Config, group, topic string) {
	tb.Helper()
	var lag map[int]int64
	ok := polltest.Within(polltest.Patience, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if lag, err = bus.Lag(ctx, cfg, group, topic); err != nil {
			return false
		}
		for _, n := range lag {
			if n != 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		tb.Fatalf("group %s never caught up with %s: lag %v", group, topic, lag)
	}
}

// counts are the readers' counters of one topic.
type counts struct{ handled, rejected, stateSkipped float64 }

// readerCounts reads the follower counters of topic and the router's
// skipped state records.
func readerCounts(tb testing.TB, reg *prometheus.Registry, topic string) counts {
	tb.Helper()
	of := map[string]string{"topic": topic}
	return counts{
		handled:      bustest.CounterValue(tb, reg, "tousu_follower_messages_total", of),
		rejected:     bustest.CounterValue(tb, reg, "tousu_follower_messages_rejected_total", of),
		stateSkipped: bustest.CounterValue(tb, reg, "tousu_router_state_skipped_total", nil),
	}
}
