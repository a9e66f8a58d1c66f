package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/tousu/tousu/services/bus"
)

func TestFollowerConfigValidate(t *testing.T) {
	with := func(f func(*bus.FollowerConfig)) bus.FollowerConfig {
		fc := bus.FollowerConfig{Topic: "t"}
		f(&fc)
		return fc
	}
	tests := []struct {
		name string
		fc   bus.FollowerConfig
		want string
	}{
		{"defaults", bus.FollowerConfig{Topic: "t"}, ""},
		{"tuned", with(func(c *bus.FollowerConfig) {
			c.MinBackoff, c.MaxBackoff, c.MaxWait, c.PartitionWatchInterval = time.Millisecond, time.Second, 50*time.Millisecond, time.Minute
		}), ""},
		{"no topic", bus.FollowerConfig{}, "topic is required"},
		{"negative", with(func(c *bus.FollowerConfig) { c.PartitionWatchInterval = -time.Second }), "partition_watch_interval must not be negative"},
		{"min above max", with(func(c *bus.FollowerConfig) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }), "exceeds max_backoff"},
		{"max wait too short", with(func(c *bus.FollowerConfig) { c.MaxWait = time.Millisecond }), "below 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.fc.Validate(), tt.want)
		})
	}
}

func TestNewFollowerRefusesBadInput(t *testing.T) {
	h := func(context.Context, bus.Message) error { return nil }
	broker := bus.Config{Brokers: []string{"127.0.0.1:9092"}}
	tests := []struct {
		name string
		cfg  bus.Config
		fc   bus.FollowerConfig
		h    bus.Handler
		want string
	}{
		{"no brokers", bus.Config{}, bus.FollowerConfig{Topic: "t"}, h, "no brokers configured"},
		{"no topic", broker, bus.FollowerConfig{}, h, "topic is required"},
		{"no handler", broker, bus.FollowerConfig{Topic: "t"}, nil, "handler is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bus.NewFollower(tt.cfg, tt.fc, tt.h, nil, nil)
			checkErr(t, err, tt.want)
		})
	}
}
