// Package alerts is the stage that delivers the notices of the alerts
// topic (urges, batch incidents, escalations) to the configured sinks: the
// log, signed webhooks, DingTalk and WeCom group robots and e-mail. It
// consumes the alerts topic (group Group) and produces nothing on the bus:
// a message is acknowledged once every matching sink acknowledged its
// notice. A notice a sink refuses for good is rejected to the dead-letter
// topic; one that fails for now is tried again.
package alerts

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
	"github.com/tousu/tousu/sinks/alertsink"
)

// Group is the consumer group of alert delivery.
const Group = "tousu-alerts"

// Stage delivers the notices of the alerts topic (urges, batch
// incidents, escalations) to the configured sinks. A notice a sink refuses
// for good is dead-lettered; one that fails for now is tried again.
type Stage struct {
	sinks *alertsink.Dispatcher
}

// Topics are the topics alert delivery consumes.
var Topics = []string{bus.TopicAlerts}

// Deps is what alert delivery is made of.
type Deps struct {
	// Config configures the sinks.
	Config   alertsink.Config
	Logger   *zap.Logger
	Registry prometheus.Registerer // nil: no metrics registered
}

// New starts the sinks.
func New(d Deps) (*Stage, error) {
	sinks, err := alertsink.New(d.Config, d.Logger, d.Registry)
	if err != nil {
		return nil, err
	}
	return &Stage{sinks: sinks}, nil
}

// Close stops the sinks.
func (s *Stage) Close() error {
	s.sinks.Close()
	return nil
}

// Handle delivers the notice of one message.
func (s *Stage) Handle(ctx context.Context, m bus.Message) error {
	var n router.Notice
	if err := record.Decode(m, &n); err != nil {
		return err
	}
	if err := record.CheckVersion(m, n.V, router.NoticeVersion); err != nil {
		return err
	}
	err := s.sinks.Deliver(ctx, n)
	if errors.Is(err, alertsink.ErrPermanent) {
		return bus.Reject(err)
	}
	return err
}
