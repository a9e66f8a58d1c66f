package escalator

import (
	"fmt"
	"time"
)

// Config tunes the escalator (the escalator section of the
// configuration).
type Config struct {
	// Interval is how often it looks for due alerts (default 5s); an
	// alert is raised at most this late.
	Interval time.Duration `yaml:"interval"`
}

// Provision fills the default.
func (c *Config) Provision() {
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
}

// Validate checks the interval.
func (c Config) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("interval: must be positive, got %s", c.Interval)
	}
	return nil
}
