// Package pg connects to PostgreSQL, migrates logq's schema (Migrate) and
// maps pgx errors onto logq's error vocabulary, so that no pgx error leaks
// upward.
package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
)

// Connect opens a pool on dsn and checks that the server answers.
func Connect(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, logq.Errorf(logq.EInvalid, "invalid database url: %v", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

// IsUniqueViolation reports whether err is SQLSTATE 23505.
func IsUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// IsConnectionError reports whether err means the session is gone (as
// opposed to a statement that failed on a live session).
func IsConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P01 admin_shutdown (pg_terminate_backend), 57P02/57P03, class 08.
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code[:2] == "08"
	}
	return true
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
