package client

import (
	"reflect"
	"testing"

	"github.com/logq/logq/api"
)

func produceAnswerSeeds(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, n := range []int{1, 3, 100} {
		res := make([]api.BatchResult, n)
		for i := range res {
			p, o := i%3, int64(1000000+i)
			res[i] = api.BatchResult{Partition: &p, Offset: &o}
		}
		for _, dup := range []bool{false, true} {
			b, err := api.Marshal(api.ProduceBatchAnswer{Status: api.StatusSuccess, Results: res, Duplicate: dup})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b)+"\n") // as the servers write it
		}
	}
	return append(out,
		`{"status":"success","results":[{"partition":0,"offset":1},{"error":{"code":"unavailable","message":"x"}}]}`,
		`{"status":"success","results":[]}`,
		`{"status":"success","results":[{"partition":0,"offset":01}]}`,
		`{"status":"success","results":[{"partition":-1,"offset":99999999999999999999}]}`,
		`{"status":"success","results":[{"partition":0,"offset":1}],"duplicate":false}`,
	)
}

// FuzzScanProduceAnswer: what scanProduceAnswer reads, the codec reads
// the same.
func FuzzScanProduceAnswer(f *testing.F) {
	for _, s := range produceAnswerSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var fast api.ProduceBatchAnswer
		if !scanProduceAnswer([]byte(data), &fast) {
			return
		}
		var slow api.ProduceBatchAnswer
		if err := api.Unmarshal([]byte(data), &slow); err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nscanned %+v\ncodec %+v, %v", data, fast, slow, err)
		}
	})
}

// TestScanProduceAnswerTaken fails when the servers' answers bypass the
// scanner.
func TestScanProduceAnswerTaken(t *testing.T) {
	for _, s := range produceAnswerSeeds(t)[:6] {
		var a api.ProduceBatchAnswer
		if !scanProduceAnswer([]byte(s), &a) {
			t.Errorf("not scanned: %s", s)
		}
	}
}

// BenchmarkProduceAnswer reads a produce_batch answer of 5,000 results
// with the scanner (fast) and with the codec.
func BenchmarkProduceAnswer(b *testing.B) {
	res := make([]api.BatchResult, 5000)
	for i := range res {
		p, o := 1, int64(1000000+i)
		res[i] = api.BatchResult{Partition: &p, Offset: &o}
	}
	data, _ := api.Marshal(api.ProduceBatchAnswer{Status: api.StatusSuccess, Results: res})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a api.ProduceBatchAnswer
			if !scanProduceAnswer(data, &a) {
				b.Fatal("not scanned")
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a api.ProduceBatchAnswer
			if err := api.Unmarshal(data, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
