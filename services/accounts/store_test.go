package accounts_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

var now = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)

// replica is a console's store following topic; stop ends its follower.
type replica struct {
	*accounts.Store
	stop func()
}

// startReplica starts a store on topic that writes through write (the
// producer's when nil) and waits until it has caught up.
func startReplica(tb testing.TB, cfg bus.Config, topic string, write accounts.Write) *replica {
	tb.Helper()
	if write == nil {
		write = bustest.NewProducer(tb, cfg).Write
	}
	log := zaptest.NewLogger(tb, zaptest.Level(zapcore.WarnLevel))
	s := accounts.NewStore(write, topic, log)
	f, err := bus.NewFollower(cfg, bus.FollowerConfig{Topic: topic, CaughtUp: s.CaughtUp}, s.Follow, log, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	polltest.Until(tb, "the store catches up", func() bool { return s.Ready(context.Background()) == nil })
	return &replica{Store: s, stop: stop}
}

func mustCreate(tb testing.TB, spec accounts.Spec) accounts.Account {
	tb.Helper()
	a, err := accounts.Create(spec, "bootstrap", now)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestStoreReplicas checks that a write is visible at once where it was
// made, reaches another replica, that a name is taken once across
// replicas, and that a replica started later reads everything back.
func TestStoreReplicas(t *testing.T) {
	bustest.OnBrokers(t, func(t *testing.T, cfg bus.Config) {
		ctx := context.Background()
		topic := bustest.CreateTopic(t, cfg, 1)
		a, b := startReplica(t, cfg, topic, nil), startReplica(t, cfg, topic, nil)
		zhang := mustCreate(t, accounts.Spec{Name: "zhang.wei", DisplayName: "张伟", Role: accounts.RoleAgent, Departments: []string{"客服部", "网络部"}, Password: "Xinhao2026!"})
		if err := a.Create(ctx, zhang); err != nil {
			t.Fatal(err)
		}
		if got, ok := a.Get("zhang.wei"); !ok || got.DisplayName != "张伟" {
			t.Fatalf("right after Create, the replica that wrote it has %+v, %v", got, ok)
		}
		polltest.Until(t, "the other replica sees the account", func() bool { _, ok := b.Get("zhang.wei"); return ok })
		if err := b.Create(ctx, zhang); !errors.Is(err, accounts.ErrExists) {
			t.Errorf("creating zhang.wei again on the other replica: %v, want ErrExists", err)
		}
		disabled, err := b.Update(ctx, "zhang.wei", func(cur accounts.Account) (accounts.Account, error) {
			return accounts.Apply(cur, accounts.Patch{Disabled: new(true)}, "admin", now)
		})
		if err != nil || !disabled.Disabled {
			t.Fatalf("disable on the other replica: %+v, %v", disabled, err)
		}
		polltest.Until(t, "the first replica sees it disabled", func() bool { got, _ := a.Get("zhang.wei"); return got.Disabled })
		if _, err := a.Update(ctx, "li.na", func(cur accounts.Account) (accounts.Account, error) { return cur, nil }); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("update of an unknown account: %v, want ErrNotFound", err)
		}
		a.stop()
		b.stop()
		c := startReplica(t, cfg, topic, nil)
		if got, ok := c.Get("zhang.wei"); !ok || !got.Disabled || got.DisplayName != "张伟" || len(c.List()) != 1 {
			t.Errorf("a replica started later has %+v, %v; want zhang.wei disabled", c.List(), ok)
		}
	})
}

// TestBootstrapRace starts two consoles' bootstraps at once, both past
// the check for an admin before either write is read back: one admin
// exists, only one data directory gets a password, and it is the one
// that verifies on both replicas.
func TestBootstrapRace(t *testing.T) {
	bustest.OnBrokers(t, func(t *testing.T, cfg bus.Config) {
		topic := bustest.CreateTopic(t, cfg, 1)
		prod := bustest.NewProducer(t, cfg)
		var arrived sync.WaitGroup
		arrived.Add(2)
		write := func(ctx context.Context, msgs ...bus.Message) error {
			arrived.Done()
			arrived.Wait() // both creations are on their way before either is written
			return prod.Write(ctx, msgs...)
		}
		replicas := []*replica{startReplica(t, cfg, topic, write), startReplica(t, cfg, topic, write)}
		dirs := []string{t.TempDir(), t.TempDir()}
		paths := make([]string, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() { paths[i], errs[i] = replicas[i].Bootstrap(context.Background(), dirs[i], now) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("bootstrap: %v, %v", errs[0], errs[1])
		}
		winner := 0
		if paths[0] == "" {
			winner = 1
		}
		if paths[winner] != filepath.Join(dirs[winner], accounts.PasswordFile) || paths[1-winner] != "" {
			t.Fatalf("bootstrap paths %q; want exactly one, in its data directory", paths)
		}
		if _, err := os.Stat(filepath.Join(dirs[1-winner], accounts.PasswordFile)); !os.IsNotExist(err) {
			t.Errorf("the losing console wrote a password file: %v", err)
		}
		info, err := os.Stat(paths[winner])
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("password file: %v, %v; want mode 0600", info, err)
		}
		b, _ := os.ReadFile(paths[winner])
		password := strings.TrimSpace(string(b))
		for i, r := range replicas {
			polltest.Until(t, "both replicas have the admin", func() bool { _, ok := r.Get(accounts.AdminName); return ok })
			admin, _ := r.Get(accounts.AdminName)
			if ok, err := accounts.VerifyPassword(admin.PasswordHash, password); !ok || err != nil {
				t.Errorf("replica %d: the written password does not verify: %v", i, err)
			}
			if admin.Role != accounts.RoleAdmin || !admin.MustChangePassword || len(r.List()) != 1 {
				t.Errorf("replica %d: %+v; want one admin who must change the password", i, r.List())
			}
		}
		// A later start finds the admin and writes nothing.
		again, err := replicas[1-winner].Bootstrap(context.Background(), dirs[1-winner], now)
		if again != "" || err != nil {
			t.Errorf("bootstrap with an admin: %q, %v; want nothing", again, err)
		}
	})
}
