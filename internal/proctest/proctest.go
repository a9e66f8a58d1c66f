// Package proctest runs the tousu binary in tests: `tousu serve` on a
// free port, waiting until it printed its addresses, killed when the test
// ends (with its last warnings and errors in the log of a failed test).
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Proc is a tousu process started by a test.
type Proc struct {
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Base is the HTTP base URL, e.g. http://127.0.0.1:41234.
	Base string
	// Broker is the embedded broker's address, if the process runs one.
	Broker string
	// Stderr holds the process's log. The process writes it while it
	// runs: read it after the process ended.
	Stderr *bytes.Buffer
}

// Start runs `bin serve -http 127.0.0.1:0 args...` with env added to this
// process's environment and returns once it printed its metrics address;
// it blocks until then. The process is killed when tb ends.
func Start(tb testing.TB, bin string, env []string, args ...string) *Proc {
	tb.Helper()
	p, err := Spawn(tb, bin, env, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Spawn is Start for any goroutine: it returns its failure instead of
// failing the test (t.Fatal may only be called from the test's own
// goroutine).
func Spawn(tb testing.TB, bin string, env []string, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, append([]string{"serve", "-http", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, Stderr: &bytes.Buffer{}}
	cmd.Stderr = p.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() {
			tb.Logf("tousu %v, the end of its log:\n%s", args, LogTail(p.Stderr.String(), 25))
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if _, addr, ok := strings.Cut(line, "embedded Kafka-protocol broker on "); ok {
			p.Broker = addr
		}
		if _, rest, ok := strings.Cut(line, "tousu: metrics"); ok {
			p.Base = strings.TrimSuffix(strings.Fields(rest)[0], "/metrics")
			go io.Copy(io.Discard, stdout)
			return p, nil
		}
	}
	cmd.Wait()
	return nil, fmt.Errorf("tousu %v exited before it was ready: %s", args, p.Stderr)
}

// LogTail returns the last n lines of a process's log that are warnings
// or errors, for a failed test to show.
func LogTail(log string, n int) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"warn"`) || strings.Contains(line, `"level":"error"`) || strings.Contains(line, "panic") {
			out = append(out, line)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// FreeAddr is a loopback address with a port no one listens on now, for
// a process that must know its address before it listens.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
