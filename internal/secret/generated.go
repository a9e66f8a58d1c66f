package secret

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Generated returns the secret kept in the file at path, made at the first
// call: n random bytes, hex-encoded, written with mode 0600 and a trailing
// newline. created reports that this call made it. An empty file is an
// error, not replaced: what was derived from the old secret would no longer
// agree; callers check the length they need. Two processes making the same
// file at once cannot both succeed.
func Generated(path string, n int) (value string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", false, fmt.Errorf("%s is empty", path)
		}
		return s, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", false, err
	}
	s := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", false, err
	}
	if err := f.Close(); err != nil {
		return "", false, err
	}
	return s, true, nil
}
