// Package tlsfiles reads the PEM files that TLS client configurations
// name: the certificate authorities a client trusts and its own
// certificate, into a client configuration.
package tlsfiles

import (
	"crypto/tls"
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

// ClientConfig returns a TLS 1.2+ client configuration that trusts the
// certificate authorities of the PEM file caFile (empty: the system's),
// presents the certificate and key of certFile and keyFile for mutual TLS
// (both or neither) and expects the server's certificate to name
// serverName (empty: the host dialled). Errors start with the key of the
// file at fault (ca_file, cert_file) and name the files, never a key.
func ClientConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := CAPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %s with key_file %s: %w", certFile, keyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
