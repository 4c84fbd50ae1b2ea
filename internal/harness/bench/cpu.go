package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTime is CPU time used so far: by this process (the Go client, the
// managers and the brokers all run in it) and by the PostgreSQL server (the
// postmaster and its backends, live or exited). On a machine whose cores
// are all busy, a rate is bounded by the cores divided by the CPU time per
// message, whatever the rest of the machine does: that is what the
// per-message CPU figures show.
type cpuTime struct {
	self, pg time.Duration
	driver   time.Duration // the driver process's, with one
	ok       bool          // both were readable (Linux /proc)
}

func (c cpuTime) sub(d cpuTime) cpuTime {
	return cpuTime{self: c.self - d.self, pg: c.pg - d.pg, driver: c.driver - d.driver, ok: c.ok && d.ok}
}

// cpuNow reads the CPU time used so far.
func (e *env) cpuNow() cpuTime {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTime{}
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	pg, ok := postgresCPU(e.pg.Dir())
	c := cpuTime{self: self, pg: pg, ok: ok}
	if e.driver != nil {
		f, ok := procStat(e.driver.pid())
		c.driver, c.ok = time.Duration(f.utime+f.stime)*clockTick, c.ok && ok
	}
	return c
}

// clockTick is the unit of /proc/*/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// postgresCPU sums the CPU time of the PostgreSQL server whose data
// directory is dir: the postmaster's own and its reaped children's (exited
// backends), plus its live children's.
func postgresCPU(dir string) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0, false
	}
	f, ok := procStat(pid)
	if !ok {
		return 0, false
	}
	total := f.utime + f.stime + f.cutime + f.cstime
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		child, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if c, ok := procStat(child); ok && c.ppid == int64(pid) {
			total += c.utime + c.stime
		}
	}
	return time.Duration(total) * clockTick, true
}

type statFields struct{ ppid, utime, stime, cutime, cstime int64 }

// procStat reads the fields of /proc/pid/stat that postgresCPU needs.
func procStat(pid int) (statFields, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return statFields{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return statFields{}, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return statFields{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	return statFields{ppid: n(4), utime: n(14), stime: n(15), cutime: n(16), cstime: n(17)}, true
}

// cpuUse turns the CPU time of n messages through logq and through the
// baseline into a CPUUse, nil when it could not be read.
func cpuUse(n int, logq, base cpuTime) *CPUUse {
	if !logq.ok || !base.ok || n == 0 {
		return nil
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
	return &CPUUse{Logq: us(logq.self), Driver: us(logq.driver), LogqPG: us(logq.pg), Baseline: us(base.self), BaselinePG: us(base.pg)}
}

func (c *cpuTime) add(d cpuTime) {
	c.self += d.self
	c.pg += d.pg
	c.driver += d.driver
	c.ok = d.ok
}

// tally is one side of a comparison (logq, the baseline or the peer)
// over the rounds: the time its runs measured and the CPU time they used.
type tally struct {
	d   time.Duration
	cpu cpuTime
}

// measure runs f, which returns the duration of what it measured, and adds
// that duration and the CPU time used meanwhile to t.
func (e *env) measure(t *tally, f func() (time.Duration, error)) error {
	c0 := e.cpuNow()
	d, err := f()
	if err != nil {
		return err
	}
	t.d += d
	t.cpu.add(e.cpuNow().sub(c0))
	return nil
}

// loadAverage returns the 1-minute load average (0 when unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
