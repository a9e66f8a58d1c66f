package alertsink

import (
	"context"

	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
)

// Log is the sink that writes each notice as one structured log line,
// "alert", at info level. It logs what identifies and routes the notice
// (kind, id, case or batch, alert_level, clock, step, due, notify, route,
// category, urgency, reason) and never the complaint excerpt or the
// customer: a notice carries no phone number or name, its excerpt of
// complaint text, which may contain them, is left out, and its reason,
// which may name a reply's sender, is masked (see Masked). Create it with
// NewLog; it is safe for concurrent use.
type Log struct {
	log *zap.Logger
}

// NewLog returns a log sink writing to logger, which should carry a
// component field.
func NewLog(logger *zap.Logger) *Log {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Log{log: logger}
}

// Deliver logs n. It never blocks on anything but the logger, ignores ctx
// and always returns nil. A notice delivered again is logged again.
func (l *Log) Deliver(_ context.Context, n router.Notice) error {
	n = Masked(n)
	fields := []zap.Field{zap.String("kind", n.Kind), zap.String("id", n.ID)}
	str := func(key, v string) {
		if v != "" {
			fields = append(fields, zap.String(key, v))
		}
	}
	str("case", n.Case)
	str("reference", n.Reference)
	str("batch", n.Batch)
	if len(n.Cases) > 0 {
		fields = append(fields, zap.Int("cases", len(n.Cases)))
	}
	if n.Customers > 0 {
		fields = append(fields, zap.Int("customers", n.Customers))
	}
	if n.Kind == router.NoticeEscalation || n.Level != 0 {
		// Not "level": that is the log entry's own level key.
		fields = append(fields, zap.Int("alert_level", n.Level))
	}
	str("clock", n.Clock)
	str("step", n.Step)
	if !n.Due.IsZero() {
		fields = append(fields, zap.Time("due", n.Due))
	}
	if len(n.Notify) > 0 {
		fields = append(fields, zap.Strings("notify", n.Notify))
	}
	if n.Route != (router.Route{}) {
		fields = append(fields, zap.Dict("route",
			zap.String("department", n.Route.Department), zap.String("queue", n.Route.Queue), zap.String("owner", n.Route.Owner)))
	}
	if n.Urgency > 0 {
		fields = append(fields, zap.Int("urgency", n.Urgency))
	}
	str("category", n.Category)
	str("reason", n.Reason)
	l.log.Info("alert", fields...)
	return nil
}
