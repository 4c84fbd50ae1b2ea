package faulttest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Memory bound (issue 15): 200 concurrent 8 MB produce_batch requests once
// drove a manager to 3.3 GB RSS. With --max-inflight-bytes the manager
// admits bodies up to the bound and answers the rest 503 unread, so its
// peak RSS stays under the bound times a per-request factor plus a base.
const (
	memRequests     = 200
	memBodyBytes    = 8<<20 - 4096 // just under --max-body-bytes (8 MiB)
	memInflight     = 64 << 20     // --max-inflight-bytes
	memFactor       = 5            // body + decoded messages + the broker request + GC headroom, per admitted byte
	memBaseOverhead = 96 << 20     // the process before the storm, runtime and GC headroom
)

// TestMemoryBound sends memRequests concurrent produce_batch requests of
// memBodyBytes each at a manager process started with
// --max-inflight-bytes and checks its peak RSS (VmHWM).
//
//	go test ./internal/harness/faulttest -run TestMemoryBound -v
func TestMemoryBound(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(t, clusterOpts{managers: 1, brokers: 1,
		managerFlags: []string{"--max-inflight-bytes", strconv.Itoa(memInflight), "--max-requests", "1024"}})
	prod, _ := c.registerClients(ctx)
	mgr := c.managers[0]
	pid := mgr.pid()
	before := vmKB(t, pid, "VmRSS")

	// One body, shared by every request: 100 KB messages.
	msg := strings.Repeat("m", 100<<10)
	var b strings.Builder
	fmt.Fprintf(&b, `{"topic":%q,"producer_id":%d,"messages":[`, topicName, prod)
	for i := 0; b.Len()+len(msg)+16 < memBodyBytes; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"message":%q}`, msg)
	}
	b.WriteString("]}")
	body := b.String()

	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true, ExpectContinueTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	start := make(chan struct{})
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range memRequests {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, mgr.url+"/producer/produce_batch", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			// As curl does for large bodies: a refusal is read before the
			// body is sent (without it the client sees the refused
			// connection close under its upload instead of the 503).
			req.Header.Set("Expect", "100-continue")
			<-start
			resp, err := hc.Do(req)
			code := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t0)
	peak := vmKB(t, pid, "VmHWM")
	bound := int64(memInflight*memFactor+memBaseOverhead) >> 10
	t.Logf("%d × %d-byte produce_batch in %v: answers %v; manager RSS before %d MiB, peak (VmHWM) %d MiB; bound %d MiB (%d MiB in flight × %d + %d MiB)",
		memRequests, len(body), took.Round(time.Millisecond), codes, before>>10, peak>>10, bound>>10, memInflight>>20, memFactor, memBaseOverhead>>20)
	if codes[http.StatusOK] == 0 {
		t.Errorf("no request was served: %v", codes)
	}
	if codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no request was refused for the in-flight bound: %v", codes)
	}
	for code, n := range codes {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("%d answers %d (want 200 or 503)", n, code)
		}
	}
	if peak > bound {
		t.Errorf("peak RSS %d MiB over the bound %d MiB", peak>>10, bound>>10)
	}
}

// pid is the process id of a running server.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// vmKB reads a "Vm…: N kB" line of /proc/PID/status.
func vmKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
