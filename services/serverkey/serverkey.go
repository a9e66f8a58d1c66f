// Package serverkey holds an installation's server secret: the one key
// every replica shares, from which tousu derives the keys that must agree
// across processes (reference numbers, opaque customer keys, idempotency
// scopes). A derived key is an HMAC of the secret with a purpose name, so
// no two purposes share a key and none reveals the secret.
package serverkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"path/filepath"

	"github.com/tousu/tousu/internal/secret"
)

// EnvSecret is the environment variable from which the configuration takes
// security.secret.
const EnvSecret = "TOUSU_SECRET"

// MinSecretBytes is the shortest secret accepted.
const MinSecretBytes = 32

// FileName is the file in the data directory that keeps a generated secret.
const FileName = "server-secret"

// Config names the secret: inline, in a file or in an environment variable
// (EnvSecret, set by the tousu configuration from the environment). With
// none, an embedded installation generates one into its data directory at
// first start; a distributed one must configure it, the same on every
// replica.
type Config struct {
	Secret secret.Secret `yaml:"secret"`
	// SecretFile names a file holding the secret; Provision folds it into
	// Secret.
	SecretFile string `yaml:"secret_file,omitempty"`
}

// Provision folds secret_file into Secret. It reads nothing.
func (c *Config) Provision() { c.Secret.Fold(&c.SecretFile, nil) }

// ResolveSecrets reads the secret from its file (relative to dir) or its
// environment variable.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	return c.Secret.ResolveAt("", "secret", dir, lookupEnv)
}

// Validate checks that at most one source is named and that a secret at
// hand has at least MinSecretBytes bytes. It reads and changes nothing.
func (c Config) Validate() error {
	if err := c.Secret.Check(); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	if c.Secret.Known() && len(c.Secret.Reveal()) < MinSecretBytes {
		return fmt.Errorf("%s: must have at least %d bytes", c.Secret.Key("secret"), MinSecretBytes)
	}
	return nil
}

// Configured reports whether the configuration names a secret.
func (c Config) Configured() bool { return c.Secret.IsSet() || c.SecretFile != "" }

// Key is a loaded server secret. The zero Key is not usable.
type Key struct{ secret []byte }

// Load returns the configured secret (read now unless ResolveSecrets did),
// or, when none is configured and
// generate is true, the one kept in dataDir/FileName, created (mode 0600)
// at the first call. created reports that it was made now. Without a
// configured secret and with generate false, Load fails: replicas that do
// not share a secret would give the same complaint different references.
func Load(c Config, dataDir string, generate bool) (key Key, created bool, err error) {
	if c.Configured() {
		c.Provision()
		if err := c.ResolveSecrets("", nil); err != nil {
			return Key{}, false, err
		}
		if err := c.Validate(); err != nil {
			return Key{}, false, err
		}
		return Key{secret: []byte(c.Secret.Reveal())}, false, nil
	}
	if !generate {
		return Key{}, false, fmt.Errorf("secret: not set; every replica of a distributed installation needs the same secret (security.secret, security.secret_file or %s, at least %d bytes)", EnvSecret, MinSecretBytes)
	}
	path := filepath.Join(dataDir, FileName)
	s, created, err := secret.Generated(path, MinSecretBytes)
	if err != nil {
		return Key{}, false, err
	}
	if len(s) < MinSecretBytes {
		return Key{}, false, fmt.Errorf("%s holds fewer than %d bytes", path, MinSecretBytes)
	}
	return Key{secret: []byte(s)}, created, nil
}

// New returns a Key over secret, for tests and tools.
func New(secret []byte) Key { return Key{secret: append([]byte(nil), secret...)} }

// Loaded reports whether k holds a secret (the zero Key holds none).
func (k Key) Loaded() bool { return len(k.secret) > 0 }

// Derive returns the key for one purpose ("reference", "customer"…): the
// HMAC-SHA256 of the purpose under the secret. The same secret and purpose
// give the same key in every process.
func (k Key) Derive(purpose string) []byte {
	if len(k.secret) == 0 {
		panic("serverkey: Derive on a zero Key")
	}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
