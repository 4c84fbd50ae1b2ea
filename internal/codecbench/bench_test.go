package codecbench

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// BenchmarkProduce and BenchmarkConsume run every step of the path for
// every codec (sub-benchmarks codec/step), then the whole path in one loop
// (codec/all), in one run so that the ratios are fair. ns/msg and
// allocs/msg are per message of the batch.
func BenchmarkProduce(b *testing.B) {
	benchPath(b, func(_, p, _ map[string][]step) map[string][]step { return p })
}

func BenchmarkConsume(b *testing.B) {
	benchPath(b, func(_, _, c map[string][]step) map[string][]step { return c })
}

func benchPath(b *testing.B, pick func(_, p, c map[string][]step) map[string][]step) {
	names, produce, consume := paths(newFixture())
	steps := pick(nil, produce, consume)
	for _, name := range names {
		for _, s := range steps[name] {
			b.Run(strings.ReplaceAll(name, "/", "-")+"/"+s.name, func(b *testing.B) { perMessage(b, s.run) })
		}
		all := steps[name]
		b.Run(strings.ReplaceAll(name, "/", "-")+"/all", func(b *testing.B) {
			perMessage(b, func() error {
				for _, s := range all {
					if err := s.run(); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// perMessage runs fn (one batch) b.N times and reports per message the
// wall-clock time, the process's CPU time (the garbage collector's
// included; it grows far less than the wall-clock time when other work
// shares the cores) and the allocations.
func perMessage(b *testing.B, fn func() error) {
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	msgs := float64(b.N) * batchSize
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/msgs, "cpu-ns/msg")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/msgs, "allocs/msg")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkStrictCheck is the cost of validText on the two request bodies
// of the batched produce that come from outside the server decoding them
// (produce_batch at the manager, append at the broker), per message.
func BenchmarkStrictCheck(b *testing.B) {
	f := newFixture()
	bodies := [][]byte{mustJSON(f.produceBatch), mustJSON(f.appendReq)}
	perMessage(b, func() error {
		for _, body := range bodies {
			if !validText(body) {
				return errDeclined
			}
		}
		return nil
	})
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
