package pg

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq"
)

// migrateLockKey is the transaction-level advisory lock every migration
// step takes, so that servers starting at once apply each migration once.
const migrateLockKey = 0x6c6f67710001

// Migration is one numbered schema change: logq.Migrations' file
// migrations/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Execer is what Migrate needs: a pool or a connection.
type Execer interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// migrations returns logq's migrations in version order.
func migrations() ([]Migration, error) {
	return loadMigrations(logq.Migrations, "migrations")
}

// loadMigrations reads the files NNNN_name.sql of dir in fsys: versions
// from 1 without gaps or duplicates, in version order.
func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok || e.IsDir() {
			continue
		}
		num, label, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 || label == "" {
			return nil, fmt.Errorf("migrations: %s is not named NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		out = append(out, Migration{Version: v, Name: label, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: version %d follows %d (versions run from 1 without gaps or duplicates)", m.Version, i)
		}
	}
	return out, nil
}

// Migrate brings the database's schema up to date: it applies, in version
// order, the migrations the database's schema_migrations table does not
// list, each in its own transaction together with its schema_migrations
// row, under an advisory lock. Several servers may call it at once: one
// applies each migration, the others wait for it and skip it. A database
// created by the schema.sql of the releases before migrations holds
// version 1's objects already; migration 1 is idempotent, so it is simply
// recorded. Versions recorded but unknown here (a newer release migrated
// the database) are left alone.
func Migrate(ctx context.Context, db Execer) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	_, err = migrate(ctx, db, ms)
	return err
}

// migrate applies the migrations of ms the database lacks and returns the
// versions it applied.
func migrate(ctx context.Context, db Execer, ms []Migration) ([]int, error) {
	err := lockedTx(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    int         PRIMARY KEY CHECK (version > 0),
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var applied []int
	for _, m := range ms {
		ran := false
		err := lockedTx(ctx, db, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
				m.Version).Scan(&done); err != nil || done {
				return err
			}
			// No arguments: the simple protocol, which runs a file of
			// several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			ran = true
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate: %04d_%s: %w", m.Version, m.Name, err)
		}
		if ran {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// lockedTx runs fn in a transaction holding the migration lock.
func lockedTx(ctx context.Context, db Execer, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		return fn(tx)
	})
}
