// Package pgoffsets stores consumer groups' committed offsets in
// PostgreSQL (table group_offsets, migrations/0004_groups.sql): the one
// package that writes SQL for it. It implements groups.OffsetStore.
package pgoffsets

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// Store is the offset store on a pool.
type Store struct{ db *pgxpool.Pool }

// New returns the store on db.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Commit upserts offsets of group in one statement (one transaction).
func (s *Store) Commit(ctx context.Context, group string, offsets []api.CommittedOffset, at time.Time) error {
	if len(offsets) == 0 {
		return nil
	}
	topics := make([]string, len(offsets))
	parts := make([]int32, len(offsets))
	offs := make([]int64, len(offsets))
	mds := make([]string, len(offsets))
	for i, o := range offsets {
		topics[i], parts[i], offs[i], mds[i] = o.Topic, int32(o.Partition), o.Offset, o.Metadata
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO group_offsets (group_name, topic, partition, "offset", metadata, committed_at)
		SELECT $1, t, p, o, m, $6 FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[]) AS u(t, p, o, m)
		ON CONFLICT (group_name, topic, partition) DO UPDATE
		SET "offset" = EXCLUDED."offset", metadata = EXCLUDED.metadata, committed_at = EXCLUDED.committed_at`,
		group, topics, parts, offs, mds, at)
	if err != nil {
		return storeError(ctx, err, "commit offsets")
	}
	return nil
}

// Fetch returns group's committed offsets of topics (none: all), sorted.
func (s *Store) Fetch(ctx context.Context, group string, topics []string) ([]api.CommittedOffset, error) {
	var rows pgx.Rows
	var err error
	if len(topics) == 0 {
		rows, err = s.db.Query(ctx, `SELECT topic, partition, "offset", metadata FROM group_offsets
			WHERE group_name = $1 ORDER BY topic, partition`, group)
	} else {
		rows, err = s.db.Query(ctx, `SELECT topic, partition, "offset", metadata FROM group_offsets
			WHERE group_name = $1 AND topic = ANY($2) ORDER BY topic, partition`, group, topics)
	}
	if err != nil {
		return nil, storeError(ctx, err, "fetch offsets")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.CommittedOffset, error) {
		var o api.CommittedOffset
		var p int32
		err := r.Scan(&o.Topic, &p, &o.Offset, &o.Metadata)
		o.Partition = int(p)
		return o, err
	})
	if err != nil {
		return nil, storeError(ctx, err, "fetch offsets")
	}
	return out, nil
}

// Delete removes group's offsets.
func (s *Store) Delete(ctx context.Context, group string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM group_offsets WHERE group_name = $1`, group); err != nil {
		return storeError(ctx, err, "delete offsets")
	}
	return nil
}

// Groups returns the groups with committed offsets, sorted.
func (s *Store) Groups(ctx context.Context) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT group_name FROM group_offsets ORDER BY group_name`)
	if err != nil {
		return nil, storeError(ctx, err, "list groups")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, storeError(ctx, err, "list groups")
	}
	return out, nil
}

// storeError keeps pgx errors from leaking upward: a cancelled request is
// a timeout, anything else an internal error with its cause logged.
func storeError(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return logq.Errorf(logq.ETimeout, "%s: cancelled", what)
	}
	return logq.Internal(err, what)
}
