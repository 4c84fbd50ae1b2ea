package httpauth

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/auth"
)

// QuotaKind is what a quota counts.
type QuotaKind string

// Quota kinds: produce counts request bodies, fetch the answers' bytes.
const (
	QuotaProduce QuotaKind = "produce"
	QuotaFetch   QuotaKind = "fetch"
)

// Quotas are per-principal byte rates, as token buckets that may go into
// debt (Kafka's model): a request is admitted while its principal's bucket
// is not in debt and then charged what it carried (produce: the body's
// declared length; fetch: the answer's bytes, after it is written); a
// principal in debt is answered 429 with Retry-After until the bucket has
// refilled. The burst is one second of rate. Admins, managers and brokers
// are not throttled (servers' own traffic).
type Quotas struct {
	ProduceBytesPerSec float64 // 0: no produce quota
	FetchBytesPerSec   float64 // 0: no fetch quota
	Now                func() time.Time

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
}

type bucketKey struct {
	principal string
	kind      QuotaKind
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (q *Quotas) rate(k QuotaKind) float64 {
	if k == QuotaProduce {
		return q.ProduceBytesPerSec
	}
	return q.FetchBytesPerSec
}

func (q *Quotas) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// Admit reports whether principal may start a request of kind now, or how
// long it must wait.
func (q *Quotas) Admit(principal string, k QuotaKind) (wait time.Duration, ok bool) {
	rate := q.rate(k)
	if rate <= 0 {
		return 0, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.bucket(principal, k, rate)
	if b.tokens >= 0 {
		return 0, true
	}
	return time.Duration(-b.tokens / rate * float64(time.Second)), false
}

// Charge takes n bytes from principal's bucket of kind.
func (q *Quotas) Charge(principal string, k QuotaKind, n int64) {
	rate := q.rate(k)
	if rate <= 0 || n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bucket(principal, k, rate).tokens -= float64(n)
}

// bucket returns principal's bucket, refilled to now. The caller holds mu.
func (q *Quotas) bucket(principal string, k QuotaKind, rate float64) *bucket {
	if q.buckets == nil {
		q.buckets = map[bucketKey]*bucket{}
	}
	now := q.now()
	key := bucketKey{principal, k}
	b, ok := q.buckets[key]
	if !ok {
		b = &bucket{tokens: rate, last: now}
		q.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(rate, b.tokens+dt*rate)
		b.last = now
	}
	return b
}

func (q *Quotas) serve(w http.ResponseWriter, r *http.Request, p auth.Principal, k QuotaKind, next http.Handler, writeError func(http.ResponseWriter, *http.Request, error)) {
	if p.Kind != auth.KindClient || q.rate(k) <= 0 {
		next.ServeHTTP(w, r)
		return
	}
	if wait, ok := q.Admit(p.Name, k); !ok {
		w.Header().Set("Retry-After", RetryAfter(wait.Seconds()))
		writeError(w, r, logq.Errorf(logq.EThrottled, "%s quota of %q exceeded (%.0f bytes/s); retry after %s", k, p.Name, q.rate(k), wait.Round(time.Millisecond)))
		return
	}
	if k == QuotaProduce {
		if r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		cr := &countingReader{ReadCloser: r.Body}
		r.Body = cr
		next.ServeHTTP(w, r)
		q.Charge(p.Name, k, cr.n) // what the handler read: chunked bodies count too
		return
	}
	cw := &countingWriter{ResponseWriter: w}
	next.ServeHTTP(cw, r)
	q.Charge(p.Name, k, cw.n)
}

type countingReader struct {
	io.ReadCloser
	n int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n += int64(n)
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
