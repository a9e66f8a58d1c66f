package tlsfiles_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/tlsfiles"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(tb testing.TB, dir, name string, content []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// caPEM returns a self-signed CA certificate in PEM.
func caPEM(tb testing.TB, name string) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCAPool(t *testing.T) {
	dir := t.TempDir()
	// A bundle with a comment before it, as `cat` of two CA files gives.
	bundle := append(append([]byte("# 集团内部 CA（2024年12月更新）\n"), caPEM(t, "tousu 根 CA")...), caPEM(t, "tousu 中间 CA")...)
	tests := []struct {
		name    string
		path    string
		certs   int
		wantErr string
	}{
		{"bundle of two", writeFile(t, dir, "ca-bundle.pem", bundle), 2, ""},
		{"missing", filepath.Join(dir, "nonexistent.pem"), 0, "nonexistent.pem: no such file"},
		{"not PEM", writeFile(t, dir, "ca.txt", []byte("证书待运维补充 -----BEGIN 不是证书\n")), 0, "ca.txt holds no PEM certificate"},
		{"a key, no certificate", writeFile(t, dir, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), 0, "key.pem holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := tlsfiles.CAPool(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CAPool(%s) = %v, want an error containing %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(pool.Subjects()); got != tt.certs { //nolint:staticcheck // counts the certificates read
				t.Errorf("%d certificates in the pool, want %d", got, tt.certs)
			}
		})
	}
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	ca := writeFile(t, dir, "es-ca.pem", caPEM(t, "tousu 测试 CA"))
	notPEM := writeFile(t, dir, "ca.txt", []byte("证书见附件（2024-12-03 运维）\n"))
	tests := []struct {
		name                   string
		caFile, cert, key, sni string
		wantErr                string
	}{
		{"system roots", "", "", "", "", ""},
		{"own CA and server name", ca, "", "", "es.tousu.internal", ""},
		{"missing CA", filepath.Join(dir, "nope.pem"), "", "", "", "ca_file: open "},
		{"CA not PEM", notPEM, "", "", "", "ca_file: " + notPEM + " holds no PEM certificate"},
		{"certificate without key", ca, ca, "", "", "cert_file: " + ca + " with key_file "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := tlsfiles.ClientConfig(tt.caFile, tt.cert, tt.key, tt.sni)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ClientConfig: %v, want an error starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.MinVersion < tls.VersionTLS12 || tc.ServerName != tt.sni || (tc.RootCAs != nil) != (tt.caFile != "") {
				t.Errorf("ClientConfig = min %x, server name %q, own roots %v", tc.MinVersion, tc.ServerName, tc.RootCAs != nil)
			}
		})
	}
}
