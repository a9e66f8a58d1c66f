package servertest

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestRequireCluster(t *testing.T) {
	run := t.TempDir()
	tests := []struct {
		name, require, brokers, run string
		want                        []string
		skip, fail                  string
	}{
		{name: "missing", skip: "TOUSU_TEST_KAFKA_CLUSTER is not set (the brokers of the three-node Kafka cluster: deploy/dev/services.sh start kafka-cluster"},
		{name: "missing and required", require: "1", fail: "TOUSU_TEST_KAFKA_CLUSTER is not set"},
		{name: "brokers without the run directory", brokers: "127.0.0.1:19094,127.0.0.1:19096,127.0.0.1:19098",
			fail: "TOUSU_TEST_KAFKA_CLUSTER is set but TOUSU_TEST_KAFKA_CLUSTER_RUN is not"},
		{name: "broker without a port", brokers: "127.0.0.1", run: run, fail: "TOUSU_TEST_KAFKA_CLUSTER=127.0.0.1: "},
		{name: "set", require: "1", brokers: "127.0.0.1:19094,127.0.0.1:19096,127.0.0.1:19098", run: run,
			want: []string{"127.0.0.1:19094", "127.0.0.1:19096", "127.0.0.1:19098"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequire, tt.require)
			t.Setenv(KafkaCluster.Env, tt.brokers)
			t.Setenv(EnvClusterRun, tt.run)
			f := &fakeTB{TB: t}
			c := RequireCluster(f)
			check(t, "skip", f.skipped, tt.skip)
			check(t, "failure", f.failed, tt.fail)
			if tt.want == nil {
				if c != nil {
					t.Errorf("RequireCluster = %+v, want nil", c)
				}
				return
			}
			if c == nil || !slices.Equal(c.Brokers, tt.want) || !slices.Contains(c.env, "TOUSU_DEV_KAFKA_CLUSTER_PORT=19094") {
				t.Fatalf("RequireCluster = %+v", c)
			}
			// The test holds the cluster: another cannot take it.
			lock, err := os.Open(filepath.Join(tt.run, "cluster-test.lock"))
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Close()
			if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
				t.Error("the cluster's lock was free while a test held the cluster")
			}
		})
	}
}
