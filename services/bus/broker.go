package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// DefaultBrokerListen is the listen address of the embedded broker when
// BrokerConfig.Listen is empty: loopback, any free port.
const DefaultBrokerListen = "127.0.0.1:0"

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Listen is the host:port the broker listens on and advertises to
	// clients, so the host must be an address clients can reach (not
	// 0.0.0.0 or ::). Port 0 picks a free port; read it from Broker.Addr.
	// Default 127.0.0.1:0.
	Listen string `yaml:"listen"`
	// Dir is the data directory. The caller sets it (to DATA/broker);
	// empty keeps everything in memory and loses it on Close.
	Dir string `yaml:"-"`
	// Partitions is the partition count of topics created without one.
	// Default 6.
	Partitions int `yaml:"partitions"`
}

// Provision fills the defaults of Listen and Partitions. It opens nothing.
func (c *BrokerConfig) Provision() {
	if c.Listen == "" {
		c.Listen = DefaultBrokerListen
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
}

// Validate reports every invalid field, each named by its key. It changes
// nothing.
func (c BrokerConfig) Validate() error {
	var errs []error
	if err := validListen(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if c.Partitions < 0 {
		errs = append(errs, fmt.Errorf("partitions: must not be negative, got %d", c.Partitions))
	}
	return errors.Join(errs...)
}

// validListen checks the broker's listen address (empty means the
// default).
func validListen(listen string) error {
	if listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", listen, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; the broker advertises it, so name one clients can reach (e.g. 127.0.0.1)", listen)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q: the broker advertises its listen host, so it cannot be the unspecified address", listen)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: bad port: %w", listen, err)
	}
	return nil
}

// Broker is the embedded Kafka-protocol broker: a single-node kfake
// cluster. With a Dir it persists topics, records and committed group
// offsets and reloads them on the next StartBroker with the same Dir.
//
// Durability: kfake appends every record batch and every offset commit to
// its files as it happens, with write(2) but without fsync (like Kafka's
// default flush policy). A process that is killed loses nothing, because
// the page cache survives it; a machine that loses power may lose the
// last writes. Group membership is not kept across a restart: consumers
// join afresh (at once, since the group is empty).
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	logger  *zap.Logger
	once    sync.Once
}

// StartBroker starts the embedded broker and returns once it accepts
// connections.
func StartBroker(cfg BrokerConfig, logger *zap.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bus: broker: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg.Provision() // the copy, so that a BrokerConfig built by hand serves too
	listen, partitions := cfg.Listen, cfg.Partitions
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("tousu"),
		kfake.DefaultNumPartitions(partitions),
		kfake.WithLogger(kfakeLogger{logger}),
		// kfake listens on 127.0.0.1:<port>; bind the configured address
		// instead (port 0 lets the kernel pick a free one).
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, listen)
		}),
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("bus: broker data dir: %w", err)
		}
		// On a clean Close kfake saves the members of each consumer group
		// (session_state.json) and restores them on start, to spare
		// clients that outlive the broker a rebalance. The embedded
		// broker lives in its consumers' process, so such members are
		// always gone; restored, they would hold up the first join after
		// a restart for a whole session timeout. Committed offsets live
		// elsewhere (groups.log) and are kept.
		if err := os.Remove(filepath.Join(cfg.Dir, "session_state.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bus: broker data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.Dir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: start broker on %s: %w", listen, err)
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		cluster.Close()
		return nil, fmt.Errorf("bus: start broker: expected one listener, got %v", addrs)
	}
	b := &Broker{cluster: cluster, addr: addrs[0], logger: logger}
	logger.Info("embedded broker started", zap.String("addr", b.addr), zap.String("dir", cfg.Dir), zap.Bool("persistent", cfg.Dir != ""))
	return b, nil
}

// Addr returns the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and, with a Dir, saves its state. Close the
// consumers and the producer first, so they leave their groups and flush
// while the broker still answers. It is safe to call more than once.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.cluster.Close()
		b.logger.Info("embedded broker stopped", zap.String("addr", b.addr))
	})
	return nil
}

// kfakeLogger adapts zap to kfake's logger. kfake's info level logs every
// request, so it goes to debug.
type kfakeLogger struct{ l *zap.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var log func(string, ...zap.Field)
	switch level {
	case kfake.LogLevelError:
		log = k.l.Error
	case kfake.LogLevelWarn:
		log = k.l.Warn
	case kfake.LogLevelInfo, kfake.LogLevelDebug:
		if ce := k.l.Check(zap.DebugLevel, ""); ce == nil {
			return
		}
		log = k.l.Debug
	default:
		return
	}
	log(strings.TrimSpace(fmt.Sprintf(msg, args...)), zap.String("source", "kfake"))
}
