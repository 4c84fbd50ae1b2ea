// Package pgtest gives tests a real PostgreSQL: Main starts one throwaway
// server per test binary (or uses TEST_DATABASE_URL), and NewDB hands each
// test its own database, created from a template migrated by pg.Migrate, so
// tests run in parallel without seeing each other.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		t.Parallel()
//		ctx := pgtest.Context(t, time.Minute)
//		db := pgtest.Pool(t, pgtest.NewDB(t), 4)
//		...
//	}
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgserver"
)

var (
	mu       sync.Mutex
	adminDSN string // a URL to the maintenance database
	template string // name of the template database
	server   *pgserver.Server
	counter  atomic.Int64
	setupErr error
)

// Main starts the shared server (unless TEST_DATABASE_URL is set), runs the
// tests, stops the server and, when the tests passed, fails the run if any
// goroutine leaked (goleak). Use it from TestMain.
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	if err := setup(ctx); err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	cancel()
	code := m.Run()
	teardown()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

func setup(ctx context.Context) error {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		adminDSN = u
	} else {
		s, err := pgserver.Start(ctx, pgserver.Options{})
		if err != nil {
			return err
		}
		server = s
		adminDSN = s.DSN("postgres")
	}
	template = fmt.Sprintf("logq_tmpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(adminDSN), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	tconn, err := pgx.Connect(ctx, WithDatabase(adminDSN, template))
	if err != nil {
		return fmt.Errorf("connect template: %w", err)
	}
	defer tconn.Close(ctx)
	if err := pg.Migrate(ctx, tconn); err != nil {
		return err
	}
	return nil
}

func teardown() {
	if server != nil {
		server.Stop()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)")
}

// NewDB creates an isolated database holding logq's schema and returns its
// URL. It is dropped when the test ends (on a shared external server; a
// throwaway server is removed whole by Main).
func NewDB(t testing.TB) string {
	t.Helper()
	return newDB(t, template)
}

// NewEmptyDB is NewDB without the schema: an empty database, for tests of
// the migrations themselves.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	return newDB(t, "template0")
}

func newDB(t testing.TB, from string) string {
	t.Helper()
	if adminDSN == "" {
		t.Fatal("pgtest: Main was not called from TestMain")
	}
	name := fmt.Sprintf("%s_%d", template, counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createDB(ctx, name, from); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if server == nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if conn, err := pgx.Connect(ctx, adminDSN); err == nil {
				conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				conn.Close(ctx)
			}
		})
	}
	return WithDatabase(adminDSN, name)
}

func createDB(ctx context.Context, name, from string) error {
	// CREATE DATABASE ... TEMPLATE refuses while another CREATE copies the
	// same template; serialise within this process.
	mu.Lock()
	defer mu.Unlock()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+from)
	return err
}

// NewServer starts a private throwaway server for one test (for tests that
// restart or kill PostgreSQL) and stops it when the test ends. The returned
// URL names a database holding logq's schema.
func NewServer(t testing.TB) (*pgserver.Server, string) {
	t.Helper()
	return NewServerWith(t, pgserver.Options{})
}

// NewServerWith is NewServer with the server started from opts (e.g. with
// fsync on, for a benchmark whose cost is the commit's WAL flush).
func NewServerWith(t testing.TB, opts pgserver.Options) (*pgserver.Server, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := pgserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE logq"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dsn := s.DSN("logq")
	c2, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer c2.Close(ctx)
	if err := pg.Migrate(ctx, c2); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s, dsn
}

// Context returns a context that ends after d, so that a hung test fails
// rather than stalls the run, or at the test's cleanup. Unlike t.Context it
// is still live in the cleanup functions registered after it.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Pool connects a pool of at most maxConns connections to dsn and closes
// it when the test ends.
func Pool(t testing.TB, dsn string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	db, err := pg.Connect(Context(t, time.Minute), dsn, maxConns)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// WithDatabase returns dsn with its database name replaced.
func WithDatabase(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// key=value form
		parts := strings.Fields(dsn)
		out := parts[:0]
		for _, p := range parts {
			if !strings.HasPrefix(p, "dbname=") {
				out = append(out, p)
			}
		}
		return strings.Join(append(out, "dbname="+db), " ")
	}
	u.Path = "/" + db
	return u.String()
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(database url)"
	}
	return u.Redacted()
}
