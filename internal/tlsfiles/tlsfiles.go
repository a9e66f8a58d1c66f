// Package tlsfiles reads the PEM files that TLS client configurations
// name: the certificate authorities a client trusts.
package tlsfiles

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CAPool reads the PEM certificates of the file at path into a pool of
// their own: the only roots a client given the pool trusts. A file
// without a PEM certificate is an error; errors name the file.
func CAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
