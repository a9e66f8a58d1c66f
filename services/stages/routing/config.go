package routing

import (
	"errors"
	"fmt"
	"time"

	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// Config tunes the router stage (the router section of the
// configuration).
type Config struct {
	// RetrainInterval is how often the router retrains the classifiers
	// when agents corrected categories since the last time (default 30s).
	RetrainInterval time.Duration `yaml:"retrain_interval"`
	// MaxRecordBytes bounds every record the router (and the batcher)
	// writes to the broker, encoded: a case is fitted to it by leaving out
	// its oldest contacts' texts, contacts, history and list entries (see
	// router.EncodeCase); any other record over it is dead-lettered with
	// its input. Default router.DefaultMaxRecordBytes (512 KiB); at most
	// the broker's limit (bus.MaxRecordBytes) less 64 KiB for keys,
	// headers and the router.state envelope.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// Outbound says what the router writes to customers on the outbox
	// topic (router.NotifyConfig): acknowledgements, joined notices,
	// agents' replies and result notices, their media, limits and
	// templates. The app calls Outbound.Defaults with what it knows of
	// the sender before Provision.
	Outbound router.NotifyConfig `yaml:"outbound"`
}

// MaxRecordBytesLimit is the largest max_record_bytes allowed.
const MaxRecordBytesLimit = bus.MaxRecordBytes - 64<<10

// Provision fills the defaults.
func (c *Config) Provision() {
	if c.RetrainInterval == 0 {
		c.RetrainInterval = 30 * time.Second
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = router.DefaultMaxRecordBytes
	}
	c.Outbound.Provision()
}

// Validate checks the interval, the record budget and the outbound
// section, whose every template is rendered against a sample case.
func (c Config) Validate() error {
	var errs []error
	if c.RetrainInterval < 0 {
		errs = append(errs, fmt.Errorf("retrain_interval: must be positive, got %s", c.RetrainInterval))
	}
	if c.MaxRecordBytes != 0 && (c.MaxRecordBytes < router.MinRecordBytes || c.MaxRecordBytes > MaxRecordBytesLimit) {
		errs = append(errs, fmt.Errorf("max_record_bytes: must be between %d and %d (the broker's limit %d less room for keys and headers), got %d",
			router.MinRecordBytes, MaxRecordBytesLimit, bus.MaxRecordBytes, c.MaxRecordBytes))
	}
	errs = append(errs, keypath.Prefix("outbound", c.Outbound.Validate())...)
	return errors.Join(errs...)
}

// Notifier builds what decides the router's messages to customers from
// the outbound section (provisioned and validated), whose templates must
// name loaded packs (name@version); the error names the key path.
func (c Config) Notifier(packs []string, surveyKey []byte) (*router.Notifier, error) {
	if err := c.Outbound.CheckPacks(packs); err != nil {
		return nil, keypath.Under("outbound", err)
	}
	n, err := router.NewNotifier(c.Outbound, surveyKey)
	return n, keypath.Under("outbound", err)
}
