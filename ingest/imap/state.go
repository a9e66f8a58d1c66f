package imap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is the durable progress of one mailbox: every message with a UID up
// to LastUID in a folder with this UIDVALIDITY was handled and
// acknowledged. It lives in <state dir>/<mailbox>.json.
type State struct {
	V           int       `json:"v"`
	Folder      string    `json:"folder"`
	UIDValidity uint32    `json:"uidvalidity"`
	LastUID     uint32    `json:"last_uid"`
	Updated     time.Time `json:"updated"`
}

const stateVersion = 1

func statePath(dir, mailbox string) string {
	return filepath.Join(dir, mailbox+".json")
}

// loadState reads the state of a mailbox; a missing file is the zero
// state (nothing acknowledged yet). A state recorded for another folder
// (the configuration changed) counts as missing.
func loadState(dir, mailbox, folder string) (State, error) {
	b, err := os.ReadFile(statePath(dir, mailbox))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("state file %s is corrupt (delete it to rescan the folder): %w", statePath(dir, mailbox), err)
	}
	if s.Folder != folder {
		return State{}, nil
	}
	return s, nil
}

// saveState writes the state atomically and durably: a temporary file in
// the same directory, synced, renamed over the old one, then the directory
// synced, so a crash leaves either the old or the new state.
func saveState(dir, mailbox string, s State) error {
	s.V = stateVersion
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+mailbox+".*.tmp")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), statePath(dir, mailbox)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}
