package projection_test

import (
	"strings"
	"testing"

	"github.com/logq/logq/projection"
)

// BrokerRegistered's optional kafka_address: set on registration, replaced
// (or cleared) by the next one, kept in snapshots.
func TestBrokerKafkaAddress(t *testing.T) {
	tests := []struct {
		name    string
		events  []projection.Payload
		want    string // broker 1's Kafka address
		wantErr string
	}{
		{"none", nil, "", ""},
		{"set", []projection.Payload{projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000", KafkaAddress: "b1:9092"}}, "b1:9092", ""},
		{"new broker", []projection.Payload{projection.BrokerRegistered{BrokerID: 3, Address: "b3:9000", KafkaAddress: "b3:9092"},
			projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000", KafkaAddress: "b1:9093"}}, "b1:9093", ""},
		{"cleared by a registration without", []projection.Payload{
			projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000", KafkaAddress: "b1:9092"},
			projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000"}}, "", ""},
		{"too long", []projection.Payload{projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000",
			KafkaAddress: strings.Repeat("x", projection.MaxAddressLen+1)}}, "", "Kafka address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := projection.New()
			err := projection.ApplyAll(s, events(append(append([]projection.Payload{}, base...), tc.events...)...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Brokers[1].KafkaAddress; got != tc.want {
				t.Fatalf("kafka address %q, want %q", got, tc.want)
			}
			b, err := projection.Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			d, err := projection.DecodeState(b)
			if err != nil {
				t.Fatal(err)
			}
			if projection.Render(d) != projection.Render(s) {
				t.Fatalf("snapshot lost state:\n%s\nwant\n%s", projection.Render(d), projection.Render(s))
			}
		})
	}
}
