package pg_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// schemaV0 is schema.sql as the releases before numbered migrations
// shipped it: migration 1 is that file's statements unchanged (only its
// header comment differs), and TestMigrationsUnchanged in the root package
// keeps it frozen. Run on its own, it makes the databases those releases
// created: the objects, no schema_migrations.
func schemaV0(t testing.TB) string {
	t.Helper()
	b, err := logq.Migrations.ReadFile("migrations/0001_initial.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testCtx(t testing.TB) context.Context { return pgtest.Context(t, time.Minute) }

// appliedVersions returns schema_migrations as "version name" lines.
func appliedVersions(t testing.TB, db *pgxpool.Pool) []string {
	t.Helper()
	rows, err := db.Query(testCtx(t), `SELECT version || ' ' || name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func allMigrations(t testing.TB) []string {
	t.Helper()
	ms, err := pg.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d %s", m.Version, m.Name))
	}
	return out
}

// schemaDump describes the public schema's tables, columns, constraints,
// indexes, triggers, functions and publications, one object per line.
func schemaDump(t testing.TB, db *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable ||
			' default=' || coalesce(column_default, '-') || ' collation=' || coalesce(collation_name, '-')
		 FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
		`SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		 FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
		`SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`,
		`SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname`,
		`SELECT 'function ' || proname || ' ' || pg_get_functiondef(oid) FROM pg_proc
		 WHERE pronamespace = 'public'::regnamespace ORDER BY proname`,
		`SELECT 'publication ' || pubname || ' ' || schemaname || '.' || tablename FROM pg_publication_tables ORDER BY 1`,
	} {
		rows, err := db.Query(testCtx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if strings.Contains(l, " msg_") || strings.Contains(l, ".msg_") {
				continue // a segment of messages holds data, not schema (migration 3)
			}
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestMigrateUpgradesV0: a database created by the old schema.sql, holding
// data, migrates to the current schema, keeps its data and records every
// migration; it then has the very schema a fresh database migrates to.
func TestMigrateUpgradesV0(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	old := pgtest.Pool(t, pgtest.NewEmptyDB(t), 20)
	if _, err := old.Exec(ctx, schemaV0(t)); err != nil {
		t.Fatal(err)
	}
	const data = `
		INSERT INTO events (seq, at, type, data, epoch) VALUES
			(1, '2025-01-02 03:04:05+00', 'WriterElected', '{"manager": "m1", "epoch": 1}', 1),
			(2, '2025-01-02 03:04:06+00', 'TopicCreated', '{"topic": "orders", "partitions": 2}', 1);
		INSERT INTO writer_lease (id, epoch, holder, since) VALUES (1, 1, 'm1', '2025-01-02 03:04:05+00');
		INSERT INTO snapshots (seq, state) VALUES (2, '\x0102');
		INSERT INTO partitions (topic, partition, epoch, owner, next_offset) VALUES ('orders', 0, 3, 7, 2), ('orders', 1, 1, 8, 0);
		INSERT INTO messages (topic, partition, "offset", produced_at, producer_id, key, payload) VALUES
			('orders', 0, 0, '2025-01-02 03:04:07+00', 5, NULL, 'hello'),
			('orders', 0, 1, '2025-01-02 03:04:08+00', 5, 'k', 'world');
		INSERT INTO consumer_offsets (consumer_id, topic, partition, position) VALUES (9, 'orders', 0, 1);`
	if _, err := old.Exec(ctx, data); err != nil {
		t.Fatal(err)
	}
	before := tableContents(t, old, v0Rows)

	if err := pg.Migrate(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got := tableContents(t, old, currentRows); got != before {
		t.Fatalf("data changed by the migration:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	if got, want := appliedVersions(t, old), allMigrations(t); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("schema_migrations = %q; want %q", got, want)
	}

	fresh := pgtest.Pool(t, pgtest.NewEmptyDB(t), 20)
	if err := pg.Migrate(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	got, want := schemaDump(t, old), schemaDump(t, fresh)
	for _, line := range []string{"column messages.value bytea", "index CREATE UNIQUE INDEX messages_pkey", "trigger CREATE TRIGGER logq_events_notify",
		"function logq_events_notify", "publication logq_events public.events", "constraint events events_seq_check CHECK ((seq > 0))"} {
		if !strings.Contains(want, line) {
			t.Fatalf("the schema dump misses %q:\n%s", line, want)
		}
	}
	if got != want {
		t.Fatalf("upgraded schema:\n%s\nfresh schema:\n%s", got, want)
	}
	// The notify trigger still fires on the upgraded database.
	conn, err := old.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN logq_events"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(ctx, `INSERT INTO events (seq, at, type, data, epoch) VALUES (3, now(), 'X', '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Conn().WaitForNotification(ctx); err != nil || n.Payload != "3" {
		t.Fatalf("notification %+v, %v; want seq 3", n, err)
	}
}

// v0Rows and currentRows render the rows of the v0 tables whose columns
// migrations changed, as the v0 schema held them: migration 2 made
// messages' text columns bytea (and added headers and ts, ts = produced_at
// for the rows it found) and gave partitions a log start offset (0).
var (
	v0Rows = map[string]string{
		"messages":   `SELECT (topic, partition, "offset", produced_at, producer_id, key, payload)::text FROM messages`,
		"partitions": `SELECT (topic, partition, epoch, owner, next_offset)::text FROM partitions`,
	}
	currentRows = map[string]string{
		"messages": `SELECT (topic, partition, "offset", produced_at, producer_id, convert_from(key, 'UTF8'), convert_from(value, 'UTF8'))::text
			FROM messages WHERE ts = produced_at AND headers IS NULL`,
		"partitions": `SELECT (topic, partition, epoch, owner, next_offset)::text FROM partitions WHERE log_start_offset = 0`,
	}
)

// tableContents renders every row of the v0 tables (by the queries of
// render, for the tables it names).
func tableContents(t testing.TB, db *pgxpool.Pool, render map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"events", "writer_lease", "snapshots", "partitions", "messages", "consumer_offsets"} {
		q, ok := render[table]
		if !ok {
			q = `SELECT t::text FROM ` + table + ` t`
		}
		rows, err := db.Query(testCtx(t), q+` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			t.Fatalf("table %s is empty", table)
		}
		fmt.Fprintf(&b, "%s: %s\n", table, strings.Join(lines, " "))
	}
	return b.String()
}

// TestMigrateAgainIsANoOp: a migrated database (the test harness's
// template) has every migration recorded, and migrating it again applies
// nothing and changes nothing.
func TestMigrateAgainIsANoOp(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewDB(t), 20)
	if got, want := appliedVersions(t, db), allMigrations(t); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("schema_migrations = %q; want %q", got, want)
	}
	var at time.Time
	if err := db.QueryRow(ctx, `SELECT max(applied_at) FROM schema_migrations`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	before := schemaDump(t, db)
	ms, err := pg.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := pg.MigrateList(ctx, db, ms)
	if err != nil || len(applied) != 0 {
		t.Fatalf("migrating again applied %v, %v; want nothing", applied, err)
	}
	var at2 time.Time
	if err := db.QueryRow(ctx, `SELECT max(applied_at) FROM schema_migrations`).Scan(&at2); err != nil {
		t.Fatal(err)
	}
	if !at2.Equal(at) || schemaDump(t, db) != before {
		t.Fatal("migrating again changed schema_migrations or the schema")
	}
}

// TestMigrateConcurrently: servers starting at once on an empty database
// all succeed, and each migration is applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewEmptyDB(t), 20)
	ms, err := pg.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// A second migration that is not idempotent: running it twice fails.
	ms = append(ms, pg.Migration{Version: len(ms) + 1, Name: "not_idempotent", SQL: `CREATE TABLE once (id int)`})
	const servers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[int]int{}
	)
	for range servers {
		wg.Go(func() {
			vs, err := pg.MigrateList(ctx, db, ms)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range vs {
				applied[v]++
			}
		})
	}
	wg.Wait()
	for _, m := range ms {
		if applied[m.Version] != 1 {
			t.Errorf("migration %d applied %d times; want once", m.Version, applied[m.Version])
		}
	}
	if got := appliedVersions(t, db); len(got) != len(ms) {
		t.Fatalf("schema_migrations = %q", got)
	}
}

// TestMigrateEachInItsOwnTransaction: a failing migration leaves nothing of
// itself behind and is not recorded; the ones before it stay applied, and
// fixing it (a new release) applies it then.
func TestMigrateEachInItsOwnTransaction(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewEmptyDB(t), 20)
	ms := []pg.Migration{
		{Version: 1, Name: "a", SQL: `CREATE TABLE a (id int)`},
		{Version: 2, Name: "b", SQL: `CREATE TABLE b (id int); SELECT 1/0`},
	}
	if applied, err := pg.MigrateList(ctx, db, ms); err == nil || len(applied) != 1 || !strings.Contains(err.Error(), "0002_b") {
		t.Fatalf("migrate = %v, %v; want 1 applied and an error naming 0002_b", applied, err)
	}
	var b *string
	if err := db.QueryRow(ctx, `SELECT to_regclass('b')::text`).Scan(&b); err != nil || b != nil {
		t.Fatalf("table b = %v, %v; want it rolled back", b, err)
	}
	if got := appliedVersions(t, db); strings.Join(got, ",") != "1 a" {
		t.Fatalf("schema_migrations = %q; want only 1", got)
	}
	ms[1].SQL = `CREATE TABLE b (id int)`
	if applied, err := pg.MigrateList(ctx, db, ms); err != nil || len(applied) != 1 || applied[0] != 2 {
		t.Fatalf("migrate after the fix = %v, %v; want [2]", applied, err)
	}
	// A database migrated by a newer release (versions unknown here) is
	// left alone.
	if applied, err := pg.MigrateList(ctx, db, ms[:1]); err != nil || len(applied) != 0 {
		t.Fatalf("older release's migrate = %v, %v; want nothing applied", applied, err)
	}
}

func TestLoadMigrationsRefusesBadNames(t *testing.T) {
	for _, files := range [][]string{
		{"0001_a.sql", "0003_c.sql"},
		{"0001_a.sql", "0001_b.sql"},
		{"0002_b.sql"},
		{"1_a.sql"},
		{"0001.sql"},
		{"000x_a.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1")}
		}
		if ms, err := pg.LoadMigrations(fsys, "m"); err == nil {
			t.Errorf("LoadMigrations(%q) = %+v; want an error", files, ms)
		}
	}
	fsys := fstest.MapFS{"m/0002_b.sql": {Data: []byte("B")}, "m/0001_a.sql": {Data: []byte("A")}, "m/README": {}}
	ms, err := pg.LoadMigrations(fsys, "m")
	if err != nil || len(ms) != 2 || ms[0].Name != "a" || ms[1].SQL != "B" {
		t.Fatalf("LoadMigrations = %+v, %v", ms, err)
	}
}
