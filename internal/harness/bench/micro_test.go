package bench

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHTTPRoundTrip measures the floor of one message per request:
// a bare net/http POST of a 100-byte JSON body and a small JSON answer,
// client and server in this process on loopback, from 64 concurrent
// clients with keep-alive. cpu-µs/op is the CPU time of the whole process
// (client and server) per request: every unbatched produce pays at least
// this once (client → manager), on top of the rest of logq's path.
//
//	go test ./internal/bench -run '^$' -bench HTTPRoundTrip -benchtime 50000x
func BenchmarkHTTPRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	answer := []byte(`{"status":"success","results":[{"partition":1,"offset":12345}]}` + "\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	const clients = 64
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	body := []byte(`{"topic":"bench","producer_id":1,"messages":[{"message":"` + string(bytes.Repeat([]byte("x"), 100)) + `"}]}`)
	url := "http://" + ln.Addr().String() + "/producer/produce_batch"
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				resp, err := c.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
