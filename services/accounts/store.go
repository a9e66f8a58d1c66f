package accounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/bus"
)

// Version is the "v" of a record's payload.
const Version = 1

// DefaultVisibleTimeout bounds how long Create and Update wait for the
// follower to read their write back, when ctx allows longer.
const DefaultVisibleTimeout = 10 * time.Second

// Write writes messages to the broker and blocks until they are
// acknowledged (bus.Producer.Write).
type Write func(ctx context.Context, msgs ...bus.Message) error

// Errors of a Store; the API answers them with 409, 404 and 503.
var (
	// ErrExists is the error of creating an account whose name is taken.
	ErrExists = errors.New("accounts: the name is taken")
	// ErrNotFound is the error of changing an account that does not exist.
	ErrNotFound = errors.New("accounts: no such account")
	// ErrNotVisible is the error of a write the broker acknowledged but the
	// follower has not read back in time: it takes effect, later.
	ErrNotVisible = errors.New("accounts: written, but not read back yet")
)

// op is what a record does.
type op string

const (
	// opCreate adds an account unless its name is taken by then, in topic
	// order. Its message key is the name and the record's id, so that
	// compaction keeps every creation and the first one still wins when
	// the topic is read again.
	opCreate op = "create"
	// opUpdate replaces the account whole; its key is the name, so
	// compaction keeps the latest.
	opUpdate op = "update"
)

// record is the payload of a message on bus.TopicAccounts.
type record struct {
	V       int     `json:"v"`
	ID      string  `json:"id"`
	Op      op      `json:"op"`
	Account Account `json:"account"`
}

// key is the message key of r (see opCreate and opUpdate).
func (r record) key() string {
	if r.Op == opCreate {
		return r.Account.Name + "/create/" + r.ID
	}
	return r.Account.Name
}

// applyRecord returns the accounts after r in topic order and whether r
// took effect: a creation of a taken name does not.
func applyRecord(accounts map[string]Account, r record) bool {
	if _, taken := accounts[r.Account.Name]; taken && r.Op == opCreate {
		return false
	}
	accounts[r.Account.Name] = r.Account
	return true
}

// Store is every account, kept in memory from the topic. It is safe for
// concurrent use.
type Store struct {
	write   Write
	topic   string
	logger  *zap.Logger
	timeout time.Duration

	// caughtUp is done once the follower has read what the topic held
	// when it started (CaughtUp): until then writes wait, since a name may
	// be taken on the topic already.
	caughtUp *bus.CatchUp

	mu       sync.Mutex
	accounts map[string]Account
	// waiting maps the id of a record written here to the channel that
	// learns whether it took effect, once the follower read it.
	waiting map[string]chan bool
}

// NewStore returns a Store that writes to topic (bus.TopicAccounts but in
// tests) through write. Follow must be the handler of a bus.Follower of
// the topic and CaughtUp its FollowerConfig.CaughtUp; the topic must
// have one partition, so that its order is one order.
func NewStore(write Write, topic string, logger *zap.Logger) *Store {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Store{write: write, topic: topic, logger: logger, timeout: DefaultVisibleTimeout,
		caughtUp: bus.NewCatchUp("accounts: still reading the accounts"), accounts: map[string]Account{}, waiting: map[string]chan bool{}}
}

// CaughtUp records that the follower has read everything the topic held
// when it started. Calling it again does nothing. The last record of the
// topic's partition always survives compaction (nothing later has its
// key), so the follower does call it.
func (s *Store) CaughtUp() { s.caughtUp.Done() }

// Ready reports nil once the Store has caught up with the topic, for a
// readiness check.
func (s *Store) Ready(ctx context.Context) error { return s.caughtUp.Ready(ctx) }

// waitCaughtUp waits until the Store has caught up, or ctx ends.
func (s *Store) waitCaughtUp(ctx context.Context) error {
	if err := s.caughtUp.Wait(ctx); err != nil {
		return fmt.Errorf("accounts: not caught up with the topic: %w", err)
	}
	return nil
}

// Follow is the bus.Handler that applies a followed record; it rejects
// records it cannot read.
func (s *Store) Follow(_ context.Context, m bus.Message) error {
	var r record
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return bus.Reject(fmt.Errorf("accounts: decode record: %w", err))
	}
	if r.V != Version || r.ID == "" || (r.Op != opCreate && r.Op != opUpdate) || ValidateName(r.Account.Name) != nil {
		return bus.Reject(fmt.Errorf("accounts: record version %d, id %q, op %q, name %q: not a record of this version", r.V, r.ID, r.Op, r.Account.Name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	applied := applyRecord(s.accounts, r)
	if ch, ok := s.waiting[r.ID]; ok {
		ch <- applied
		delete(s.waiting, r.ID)
	}
	return nil
}

// Get returns the account called name.
func (s *Store) Get(name string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[name]
	a.Departments = slices.Clone(a.Departments)
	return a, ok
}

// List returns every account, by name.
func (s *Store) List() []Account {
	s.mu.Lock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		a.Departments = slices.Clone(a.Departments)
		out = append(out, a)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Create adds a (made by Create), once the Store has caught up: ErrExists
// when its name is taken, here or, first in topic order, by a creation
// on another replica.
func (s *Store) Create(ctx context.Context, a Account) error {
	if err := s.waitCaughtUp(ctx); err != nil {
		return err
	}
	if _, taken := s.Get(a.Name); taken {
		return ErrExists
	}
	applied, err := s.put(ctx, opCreate, a)
	if err != nil {
		return err
	}
	if !applied {
		return ErrExists
	}
	return nil
}

// Update replaces the account called name with change(the account),
// once the Store has caught up, and returns it: ErrNotFound without such
// an account, change's error when it refuses, KeepsAnAdmin's when the
// change would leave no enabled admin. A concurrent change of
// the same account on another replica that comes later in topic order
// replaces this one whole.
func (s *Store) Update(ctx context.Context, name string, change func(Account) (Account, error)) (Account, error) {
	if err := s.waitCaughtUp(ctx); err != nil {
		return Account{}, err
	}
	cur, ok := s.Get(name)
	if !ok {
		return Account{}, ErrNotFound
	}
	next, err := change(cur)
	if err != nil {
		return Account{}, err
	}
	if err := KeepsAnAdmin(s.List(), cur, next); err != nil {
		return Account{}, err
	}
	next.Name = name
	if _, err := s.put(ctx, opUpdate, next); err != nil {
		return Account{}, err
	}
	return next, nil
}

// put writes a record of a and waits until the follower read it back; it
// reports whether the record took effect.
func (s *Store) put(ctx context.Context, o op, a Account) (bool, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return false, err
	}
	r := record{V: Version, ID: hex.EncodeToString(id), Op: o, Account: a}
	b, err := ingest.EncodeJSON(r)
	if err != nil {
		return false, err
	}
	ch := make(chan bool, 1)
	s.mu.Lock()
	s.waiting[r.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, r.ID)
		s.mu.Unlock()
	}()
	if err := s.write(ctx, bus.Message{Topic: s.topic, Key: []byte(r.key()), Value: b}); err != nil {
		return false, fmt.Errorf("accounts: %s %s: %w", o, a.Name, err)
	}
	wait, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	select {
	case applied := <-ch:
		return applied, nil
	case <-wait.Done():
		return false, fmt.Errorf("%w: %s %s", ErrNotVisible, o, a.Name)
	}
}

// HasAdmin reports whether an enabled admin account exists.
func (s *Store) HasAdmin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.Role == RoleAdmin && !a.Disabled {
			return true
		}
	}
	return false
}
