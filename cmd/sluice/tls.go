package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// serverTLS returns the TLS configuration of the TLS listener: the
// certificate and key given, or a self-signed certificate for localhost,
// 127.0.0.1 and ::1 that it also writes as PEM into dir so that clients
// can trust it (AWS_CA_BUNDLE, --ca-bundle, NODE_EXTRA_CA_CERTS).
func serverTLS(certFile, keyFile string, selfSigned bool, dir string) (cfg *tls.Config, certPath string, err error) {
	var cert tls.Certificate
	switch {
	case selfSigned:
		certPEM, keyPEM, err := selfSignedCert(time.Now())
		if err != nil {
			return nil, "", fmt.Errorf("self-signed certificate: %w", err)
		}
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return nil, "", fmt.Errorf("self-signed certificate: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, "", fmt.Errorf("write self-signed certificate: %w", err)
		}
		certPath = filepath.Join(dir, "tls-cert.pem")
		if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
			return nil, "", fmt.Errorf("write self-signed certificate: %w", err)
		}
	default:
		if cert, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, "", fmt.Errorf("load --tls-cert and --tls-key: %w", err)
		}
		certPath = certFile
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, certPath, nil
}

// selfSignedCert makes a P-256 certificate for the loopback names, valid
// for a year from now.
func selfSignedCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Sluice"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can trust it directly as a CA bundle
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
