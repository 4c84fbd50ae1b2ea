package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq/internal/pgtest"
)

// TestDevKafkaListeners: logq dev gives each broker a Kafka listener on
// consecutive ports from --kafka-addr and prints the bootstrap address.
func TestDevKafkaListeners(t *testing.T) {
	t.Parallel()
	base := freePorts(t, 5)
	args := []string{"--db", pgtest.NewDB(t), "--addr", fmt.Sprintf("127.0.0.1:%d", base), "--readers", "0", "--brokers", "2",
		"--kafka-addr", fmt.Sprintf("127.0.0.1:%d", base+3), "--log-level", "error"}
	out, _ := startDev(t, args...)
	text := out.waitFor(t, "ready", time.Minute)
	bootstrap := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", base+3, base+4)
	if !strings.Contains(text, "kafka      bootstrap "+bootstrap) {
		t.Fatalf("dev output lacks the Kafka bootstrap %s:\n%s", bootstrap, text)
	}
	if n := len(regexp.MustCompile(`\(kafka 127\.0\.0\.1:\d+\)`).FindAllString(text, -1)); n != 2 {
		t.Fatalf("%d brokers show a Kafka listener:\n%s", n, text)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl); err != nil {
		t.Fatalf("ApiVersions over %s: %v", bootstrap, err)
	}
}
