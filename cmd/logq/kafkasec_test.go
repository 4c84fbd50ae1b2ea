package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logq/logq/internal/pgtest"
)

// TestDevAuthKafka: `logq dev --auth` puts SASL on its Kafka listeners and
// prints a kcat line that logs in; without SASL nothing but the handshake
// is answered.
func TestDevAuthKafka(t *testing.T) {
	t.Parallel()
	base := freePorts(t, 4)
	out, stop := startDev(t, "--db", pgtest.NewDB(t), "--addr", fmt.Sprintf("127.0.0.1:%d", base), "--readers", "0", "--brokers", "1",
		"--kafka-addr", fmt.Sprintf("127.0.0.1:%d", base+3), "--log-level", "error", "--auth")
	defer stop()
	text := out.waitFor(t, "ready", time.Minute)
	m := regexp.MustCompile(`(?m)^  kcat -b (\S+) -X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=SCRAM-SHA-256 -X sasl.username=admin -X sasl.password=(\S+) -L$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no kcat SASL line in:\n%s", text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(m[1]), kgo.SASL(scram.Auth{User: "admin", Pass: m[2]}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err != nil {
		t.Fatalf("admin over SASL: %v", err)
	}
	open, err := kgo.NewClient(kgo.SeedBrokers(m[1]), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := kadm.NewClient(open).ListTopics(ctx); err == nil || strings.Contains(text, "kcat -b "+m[1]+" -L") {
		t.Fatalf("the Kafka listener answered without SASL (%v), or the ready screen shows an open kcat line", err)
	}
}
