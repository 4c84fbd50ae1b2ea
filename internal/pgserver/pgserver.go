// Package pgserver starts a private, throwaway PostgreSQL cluster from the
// machine's own PostgreSQL binaries: for the tests, for `logq dev` and for
// the benchmarks. It runs the server as the postgres user when the caller is
// root (PostgreSQL refuses to run as root), listens on a Unix socket in its
// own directory (and on a loopback port only when asked), with
// wal_level=logical, and removes everything on Stop.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Options configure a throwaway server. The zero value is a socket-only
// server in a fresh temporary directory that Stop removes.
type Options struct {
	// Dir is the data directory. Empty: a new temporary directory, removed
	// on Stop. Non-empty: created (and initialised) if missing, kept on Stop,
	// so a later Start resumes the same cluster.
	Dir string
	// Port, when non-zero, also listens on 127.0.0.1:Port. -1 picks a free
	// loopback port.
	Port int
	// Fsync turns fsync on. Off by default: a throwaway cluster survives a
	// server crash (the OS keeps the pages), not a machine crash.
	Fsync bool
	// Settings are extra postgres -c settings.
	Settings map[string]string
}

// Server is a running PostgreSQL cluster.
type Server struct {
	dir     string // data directory, also the socket directory
	tempDir bool
	port    int // TCP port, 0 when socket only
	bin     string
	opts    Options
	cred    *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
	log  *os.File
}

// ErrNoBinaries is returned when no PostgreSQL server binaries can be found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or under /usr/lib/postgresql/*/bin: " +
	"install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql), " +
	"or pass a database URL")

// FindBinaries returns the directory holding initdb and postgres.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	matches2, _ := filepath.Glob("/usr/pgsql-*/bin/initdb")
	matches = append(matches, matches2...)
	// Highest version first.
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(path string) int {
	for _, part := range strings.Split(path, string(filepath.Separator)) {
		part = strings.TrimPrefix(part, "pgsql-")
		if n, err := strconv.Atoi(part); err == nil {
			return n
		}
	}
	return 0
}

// Start initialises (if needed) and starts a cluster, and returns once it
// accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return nil, err
		}
		s.cred = cred
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "logq-pg-")
		if err != nil {
			return nil, fmt.Errorf("pgserver: %w", err)
		}
		s.dir, s.tempDir = dir, true
	} else {
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("pgserver: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pgserver: %w", err)
		}
		s.dir = dir
	}
	if len(s.dir)+len("/.s.PGSQL.65535") > 100 {
		s.cleanup()
		return nil, fmt.Errorf("pgserver: data directory path %q is too long for a Unix socket", s.dir)
	}
	if err := s.chown(s.dir); err != nil {
		s.cleanup()
		return nil, err
	}
	switch {
	case opts.Port > 0:
		s.port = opts.Port
	case opts.Port < 0:
		p, err := freePort()
		if err != nil {
			s.cleanup()
			return nil, err
		}
		s.port = p
	}
	if _, err := os.Stat(filepath.Join(s.dir, "PG_VERSION")); err != nil {
		if err := s.initdb(ctx); err != nil {
			s.cleanup()
			return nil, err
		}
	}
	if err := s.start(ctx); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root needs a 'postgres' user to run the server as (PostgreSQL refuses root): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgserver: chown %s: %w", path, err)
	}
	return nil
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if s.cred != nil {
		attr.Credential = s.cred
	}
	cmd.SysProcAttr = attr
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	cmd := s.command(ctx, "initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgserver: initdb: %w\n%s", err, out.String())
	}
	return nil
}

func (s *Server) start(ctx context.Context) error {
	listen := ""
	if s.port != 0 {
		listen = "127.0.0.1"
	}
	port := s.port
	if port == 0 {
		port = 5432 // only names the socket file, inside our own directory
	}
	settings := map[string]string{
		"listen_addresses":        listen,
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": s.dir,
		"wal_level":               "logical",
		"max_wal_senders":         "64",
		"max_replication_slots":   "64",
		"max_connections":         "500",
		"fsync":                   boolSetting(s.opts.Fsync),
		"full_page_writes":        boolSetting(s.opts.Fsync),
		"logging_collector":       "off",
		"log_min_messages":        "warning",
		"log_min_error_statement": "panic",
		"shared_buffers":          "256MB",
		"max_wal_size":            "4GB",
		"checkpoint_timeout":      "30min",
	}
	for k, v := range s.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", s.dir}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	// Not CommandContext: the server outlives the start context.
	cmd := s.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgserver: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, logf
	s.mu.Unlock()
	return s.waitReady(ctx, done)
}

func boolSetting(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// waitReady polls until the server accepts connections, the process exits,
// or 60 s pass.
func (s *Server) waitReady(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgconn.Connect(cctx, s.DSN("postgres"))
		ccancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("pgserver: postgres exited during start-up:\n%s", s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pgserver: postgres not ready: %w (last error: %v)\n%s", ctx.Err(), err, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// DSN returns a connection URL for database db (over the Unix socket).
func (s *Server) DSN(db string) string {
	port := s.port
	if port == 0 {
		port = 5432
	}
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, s.dir, port)
}

// Dir is the data (and socket) directory.
func (s *Server) Dir() string { return s.dir }

// Stop shuts the server down (fast mode) and, for a temporary directory,
// removes it.
func (s *Server) Stop() error {
	err := s.stop(syscall.SIGINT)
	s.cleanup()
	return err
}

// Halt stops the server (fast mode) and keeps its directory, for Resume
// (a storage cluster's outage in the fault suite).
func (s *Server) Halt() error { return s.stop(syscall.SIGINT) }

// Resume starts a halted server again on the same directory and port.
func (s *Server) Resume(ctx context.Context) error { return s.start(ctx) }

// Restart stops the server (fast mode) if it runs and starts it again on
// the same directory and port.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.stop(syscall.SIGINT); err != nil {
		return err
	}
	return s.start(ctx)
}

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if sig == syscall.SIGKILL {
		// Kill the whole process group: a postmaster killed alone leaves its
		// backends holding shared memory, and the restart would refuse.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	} else {
		cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		return nil
	case <-time.After(60 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return errors.New("pgserver: postgres did not stop within 60s; killed")
	}
}

func (s *Server) cleanup() {
	if s.tempDir && s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
