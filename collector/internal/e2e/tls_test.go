package e2e_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and returns the
// cert and key paths; the cert is its own CA.
func writeCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleetproof test collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certPath, keyPath
}

func TestTLSProtectsEnrollmentAndNATS(t *testing.T) {
	cert, key := writeCert(t)
	info := startCollectorWith(t, func(c *collectorConfig) { c.TLSCert, c.TLSKey = cert, key })
	if want := "https://"; info.HTTPURL[:len(want)] != want {
		t.Fatalf("HTTP URL %s is not https", info.HTTPURL)
	}
	pemBytes, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(info.HTTPURL + "/healthz")
	if err != nil {
		t.Fatalf("https with the CA: %v", err)
	}
	resp.Body.Close()
	if _, err := http.Get(info.HTTPURL + "/healthz"); err == nil {
		t.Error("a client that does not trust the certificate got through")
	}
	if resp, err := http.Get("http://" + info.HTTPURL[len("https://"):] + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served")
		}
	}
	// NATS requires TLS: a client that does not trust the certificate is
	// refused before authentication even starts.
	if nc, err := nats.Connect(info.NATSURL, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("connected to NATS without trusting its certificate")
	}
	_, err = nats.Connect(info.NATSURL, nats.NoReconnect(), nats.Secure(&tls.Config{RootCAs: pool}))
	if err == nil {
		t.Error("connected to NATS without credentials")
	} else if err.Error() == "" || !isAuthError(err) {
		t.Errorf("with the CA the failure should be authorization, got %v", err)
	}
}

func isAuthError(err error) bool {
	return err != nil && (err == nats.ErrAuthorization || containsAny(err.Error(), "Authorization", "authorization"))
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}

func TestAgentDeliversOverTLSWhenItTrustsTheCollector(t *testing.T) {
	cert, key := writeCert(t)
	bin := buildAgent(t)
	info := startCollectorWith(t, func(c *collectorConfig) { c.TLSCert, c.TLSKey = cert, key })

	_, stderr, err := runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret, "-state-dir", t.TempDir())
	if err == nil || !containsAny(stderr, "certificate") {
		t.Fatalf("an agent without the CA enrolled, or failed for another reason: %v\n%s", err, stderr)
	}
	if _, stderr, err := runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret,
		"-state-dir", t.TempDir(), "-ca-file", cert); err != nil {
		t.Fatalf("agent with the CA: %v\n%s", err, stderr)
	}
	if info.Ingester.Stats().Envelopes == 0 {
		waitResults(t, info, 1)
	}
}
