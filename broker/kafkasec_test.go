package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/internal/tlstest"
	"github.com/logq/logq/projection"
)

// TestKafkaListenerSASLSSL: --auth with --tls-cert/--tls-key (Config.Auth
// and Config.TLS, the HTTP listener's) makes the Kafka listener SASL_SSL:
// a SCRAM client over TLS sees the topics its ACLs let it describe; plain
// TCP and TLS without SASL get nothing.
func TestKafkaListenerSASLSSL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cp, _ := withTopic(t, dsn, "orders", 1)
	cp.topic("secret", 1)
	creds, err := auth.NewCredentials("app-pw-1")
	if err != nil {
		t.Fatal(err)
	}
	seq := cp.append(projection.PrincipalCreated{Name: "app", Kind: auth.KindClient, SCRAM: creds},
		projection.AclAdded{ACL: auth.ACL{Principal: "app", Resource: auth.Topic, Pattern: auth.Literal, Name: "orders", Operation: auth.OpDescribe, Effect: auth.Allow}})
	files := tlstest.New(t)
	b := startBroker(t, Config{DSN: dsn, ID: 1, Auth: true, KafkaAddr: "127.0.0.1:0",
		TLS: httpauth.TLSFiles{Cert: files.Cert, Key: files.Key}})
	b.waitApplied(seq)
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	metadata := func(opts ...kgo.Opt) (*kmsg.MetadataResponse, error) {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.KafkaAddr()), kgo.RetryTimeout(time.Second)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		return kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	}
	resp, err := metadata(kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "app", Pass: "app-pw-1"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatalf("SASL_SSL: %v", err)
	}
	if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "orders" {
		t.Fatalf("app sees %d topics (want only orders): %+v", len(resp.Topics), resp.Topics)
	}
	if _, err := metadata(); err == nil {
		t.Fatal("answered over plain TCP")
	}
	if _, err := metadata(kgo.DialTLSConfig(tlsCfg)); err == nil {
		t.Fatal("answered over TLS without SASL")
	}
}
