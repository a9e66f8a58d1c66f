package servertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// KafkaCluster is the three-node Apache Kafka cluster of
// deploy/dev/services.sh: its comma-separated brokers.
var KafkaCluster = Server{"TOUSU_TEST_KAFKA_CLUSTER", `the brokers of the three-node Kafka cluster: deploy/dev/services.sh start kafka-cluster; eval "$(deploy/dev/services.sh env)"`}

// EnvClusterRun names the run directory of deploy/dev/services.sh that
// holds the cluster's pid files; services.sh env prints it with
// TOUSU_TEST_KAFKA_CLUSTER.
const EnvClusterRun = "TOUSU_TEST_KAFKA_CLUSTER_RUN"

// Cluster is the three-node Kafka cluster a test holds. Tests that kill
// nodes must not overlap with others on the same cluster (a topic of
// replication 3 cannot be created while a node is down), so RequireCluster
// hands the cluster to one test at a time, across packages and processes.
type Cluster struct {
	// Brokers are the bootstrap addresses, node 1 first.
	Brokers []string
	services
}

// RequireCluster returns the cluster of TOUSU_TEST_KAFKA_CLUSTER, skipping
// or failing without it as Require does, and blocks until no other test
// holds it; the test holds it until its end.
func RequireCluster(tb testing.TB) *Cluster {
	tb.Helper()
	brokers := Require(tb, KafkaCluster)
	if brokers == "" {
		return nil
	}
	run := os.Getenv(EnvClusterRun)
	if run == "" {
		tb.Fatalf("%s is set but %s is not: the tests kill and start the cluster's nodes through deploy/dev/services.sh and need its run directory (services.sh env prints both)", KafkaCluster.Env, EnvClusterRun)
		return nil
	}
	c := &Cluster{Brokers: strings.Split(brokers, ",")}
	_, port, err := net.SplitHostPort(c.Brokers[0])
	if err != nil {
		tb.Fatalf("%s=%s: %v", KafkaCluster.Env, brokers, err)
		return nil
	}
	c.services = newServices(tb, run, "TOUSU_DEV_KAFKA_CLUSTER_PORT="+port)
	c.hold(tb, "cluster-test.lock", "the Kafka cluster")
	return c
}

// Kill ends node n (1 to 3) with SIGKILL, as a crash would, and returns
// once it is gone.
func (c *Cluster) Kill(tb testing.TB, n int) {
	tb.Helper()
	c.run(tb, "kill-node", fmt.Sprint(n))
}

// Start starts node n again and returns once its broker is up.
func (c *Cluster) Start(tb testing.TB, n int) {
	tb.Helper()
	c.run(tb, "start-node", fmt.Sprint(n))
}

// StartAll starts every node that is down and returns once the quorum and
// every broker are up; after the whole cluster was down no single node
// can come up on its own.
func (c *Cluster) StartAll(tb testing.TB) {
	tb.Helper()
	c.run(tb, "start", "kafka-cluster")
}

// services runs deploy/dev/services.sh on the run directory of the
// servers a test holds.
type services struct {
	script, dir string
	env         []string
}

// newServices finds services.sh for the servers of the run directory run,
// with the given port variables.
func newServices(tb testing.TB, run string, ports ...string) services {
	tb.Helper()
	return services{script: findScript(tb), dir: run, env: append(append(os.Environ(), "TOUSU_DEV_RUN="+run), ports...)}
}

// hold blocks until no other test, in any process, holds the lock file
// name in the run directory, and holds it until the test ends; what names
// the servers for an error.
func (s services) hold(tb testing.TB, name, what string) {
	tb.Helper()
	lock, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		tb.Fatalf("lock %s for this test: %v", what, err)
	}
	tb.Cleanup(func() { lock.Close() })
}

func (s services) run(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command(s.script, args...)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("services.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// findScript finds deploy/dev/services.sh above the test's directory.
func findScript(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		path := filepath.Join(dir, "deploy", "dev", "services.sh")
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no deploy/dev/services.sh above the test's directory")
		}
		dir = parent
	}
}
