package accounts

// This file hashes passwords with argon2id (RFC 9106) in the PHC string
// format, which carries its parameters, so they can change later without
// invalidating the passwords hashed before.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id parameters of new hashes.
type HashParams struct {
	// Memory in KiB, Time the passes, Threads the lanes.
	Memory  uint32
	Time    uint32
	Threads uint8
}

// DefaultHashParams are OWASP's recommended minimum for argon2id: 19 MiB,
// two passes, one lane (about 30 ms on one core).
var DefaultHashParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltBytes = 16
	keyBytes  = 32
)

var b64 = base64.RawStdEncoding

// HashPassword returns the argon2id hash of password with a random salt,
// as "$argon2id$v=19$m=…,t=…,p=…$salt$hash".
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := DefaultHashParams
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyBytes)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash is the error of a hash VerifyPassword cannot read.
var errBadHash = errors.New("accounts: not an argon2id hash of this version")

// VerifyPassword reports whether password is the one encoded hashes, with
// the parameters the hash names; an error means the hash is unreadable.
func VerifyPassword(encoded, password string) (bool, error) {
	var version int
	var p HashParams
	var rest string
	if _, err := fmt.Sscanf(encoded, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s", &version, &p.Memory, &p.Time, &p.Threads, &rest); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	// The salt and the hash are unpadded base64, which has no '$'.
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok || p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<21 || p.Time > 64 {
		return false, errBadHash
	}
	rawSalt, err1 := b64.DecodeString(salt)
	want, err2 := b64.DecodeString(sum)
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), rawSalt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
