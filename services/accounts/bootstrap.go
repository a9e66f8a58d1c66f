package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// AdminName is the account the first start creates.
const AdminName = "admin"

// PasswordFile is the name, in the data directory, of the file that holds
// the first admin's one-time password.
const PasswordFile = "admin-password"

// BootstrapBy is who the first admin account was made by.
const BootstrapBy = "tousu"

// Bootstrap gives an installation its first admin: once the Store has
// caught up (waiting for it, or for ctx), if it holds no enabled admin it
// creates AdminName with a random one-time password that must be changed
// at the first sign-in, and then writes that password to
// dir/PasswordFile with mode 0600. It returns the file's path when it
// created the admin, "" when there was one.
//
// Consoles starting at once may each try: the first creation in topic
// order wins and only its console writes the file; the others' creations
// are refused and they write nothing, so no password that does not work
// is ever written.
func (s *Store) Bootstrap(ctx context.Context, dir string, now time.Time) (string, error) {
	if err := s.waitCaughtUp(ctx); err != nil {
		return "", err
	}
	if s.HasAdmin() {
		return "", nil
	}
	password := OneTimePassword(AdminName)
	a, err := Create(Spec{Name: AdminName, DisplayName: "管理员", Role: RoleAdmin, Password: password}, BootstrapBy, now)
	if err != nil {
		return "", err
	}
	switch err := s.Create(ctx, a); {
	case errors.Is(err, ErrExists):
		return "", nil
	case err != nil:
		return "", err
	}
	path := filepath.Join(dir, PasswordFile)
	if err := writePrivate(path, password+"\n"); err != nil {
		return "", fmt.Errorf("accounts: created %s but could not write its password (set one with `tousu users passwd -name %s`): %w", AdminName, AdminName, err)
	}
	return path, nil
}

// OneTimePassword returns 26 random characters of A-Z and 2-7
// (rand.Text) that pass CheckPassword for the account name: a password
// someone else sets, shown once, to be changed at the first sign-in.
func OneTimePassword(name string) string {
	for {
		if p := rand.Text(); CheckPassword(name, p) == nil {
			return p
		}
	}
}

// writePrivate replaces the file at path with content, mode 0600, by
// renaming a complete temporary file over it.
func writePrivate(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
