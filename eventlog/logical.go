package eventlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logq/logq"
)

// publication is the schema's publication of the events table.
const publication = "logq_events"

// logical runs one logical-mode session. It creates a temporary slot
// first, so that every transaction committing after the slot's consistent
// point will be streamed; then catches up with a plain SELECT, which sees
// everything committed before it; then streams from the consistent point,
// skipping what the catch-up already delivered. The slot is temporary: it
// disappears with the replication connection, so a dead tailer pins no
// WAL. It returns when a connection fails, fn fails or ctx is done.
func (t *tailer) logical(ctx context.Context) error {
	qconn, err := t.connect(ctx) // for catch-up and gap filling
	if err != nil {
		return err
	}
	defer closeConn(qconn)

	rcfg, err := pgconn.ParseConfig(t.cfg.DSN)
	if err != nil {
		return logq.Errorf(logq.EInvalid, "invalid database url: %v", err)
	}
	rcfg.RuntimeParams["replication"] = "database"
	if rcfg.RuntimeParams["application_name"] == "" {
		rcfg.RuntimeParams["application_name"] = t.cfg.ApplicationName
	}
	// pgoutput sends values as text, rendered with these settings.
	rcfg.RuntimeParams["DateStyle"] = "ISO"
	rcfg.RuntimeParams["TimeZone"] = "UTC"
	rconn, err := pgconn.ConnectConfig(ctx, rcfg)
	if err != nil {
		return dbError(ctx, err, "eventlog: connect for replication")
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rconn.Close(cctx)
	}()

	slot, err := slotName()
	if err != nil {
		return err
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, rconn, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary:      true,
		SnapshotAction: "NOEXPORT_SNAPSHOT",
		Mode:           pglogrepl.LogicalReplication,
	})
	if err != nil {
		return dbError(ctx, err, "eventlog: create replication slot")
	}
	start, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return logq.Internal(err, "eventlog: create replication slot")
	}
	if err := t.catchUp(ctx, qconn); err != nil {
		return err
	}
	err = pglogrepl.StartReplication(ctx, rconn, slot, start, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'"},
	})
	if err != nil {
		return dbError(ctx, err, "eventlog: start replication")
	}
	t.connected = true
	t.log.Debug().Str("slot", slot).Stringer("lsn", start).Int64("last_seq", t.last).
		Msg("event log tail connected (logical)")

	s := stream{tailer: t, qconn: qconn, relations: map[uint32]*pglogrepl.RelationMessage{}, types: pgtype.NewMap()}
	pos := start // the WAL position received so far
	nextStatus := time.Now().Add(t.cfg.StatusInterval)
	for {
		if !time.Now().Before(nextStatus) {
			err := pglogrepl.SendStandbyStatusUpdate(ctx, rconn, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos})
			if err != nil {
				return dbError(ctx, err, "eventlog: send standby status")
			}
			nextStatus = time.Now().Add(t.cfg.StatusInterval)
		}
		rctx, cancel := context.WithDeadline(ctx, nextStatus)
		msg, err := rconn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && pgconn.Timeout(err) {
				continue // time for a status update
			}
			return dbError(ctx, err, "eventlog: receive replication message")
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return logq.Internal(err, "eventlog: parse keepalive")
				}
				pos = max(pos, ka.ServerWALEnd)
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return logq.Internal(err, "eventlog: parse wal data")
				}
				if err := s.handle(ctx, xld.WALData); err != nil {
					return err
				}
				pos = max(pos, xld.WALStart+pglogrepl.LSN(len(xld.WALData)))
			}
		case *pgproto3.ErrorResponse:
			return dbError(ctx, pgconn.ErrorResponseToPgError(msg), "eventlog: replication")
		case *pgproto3.CopyDone:
			return withCode(logq.EUnavailable, "eventlog: replication", errors.New("server ended the replication stream"))
		}
	}
}

// slotName returns a fresh replication slot name.
func slotName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", logq.Internal(err, "eventlog: slot name")
	}
	return "logq_tail_" + hex.EncodeToString(b[:]), nil
}

// stream decodes one logical session's pgoutput messages into events.
type stream struct {
	*tailer
	qconn     *pgx.Conn
	relations map[uint32]*pglogrepl.RelationMessage
	types     *pgtype.Map
}

// handle processes one pgoutput message: it remembers relations and
// delivers inserted events, filling a gap before it from the table.
func (s *stream) handle(ctx context.Context, data []byte) error {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return logq.Internal(err, "eventlog: parse pgoutput message")
	}
	switch msg := msg.(type) {
	case *pglogrepl.RelationMessage:
		s.relations[msg.RelationID] = msg
	case *pglogrepl.InsertMessage:
		rel, ok := s.relations[msg.RelationID]
		if !ok {
			return logq.Errorf(logq.EInternal, "eventlog: insert into unknown relation %d", msg.RelationID)
		}
		if rel.RelationName != "events" {
			return nil
		}
		e, err := s.decode(rel, msg.Tuple)
		if err != nil {
			return err
		}
		if ok, err := s.deliver(e); ok || err != nil {
			return err
		}
		// The events before e are committed (they precede it in commit
		// order), so the table has them.
		if err := s.catchUp(ctx, s.qconn); err != nil {
			return err
		}
		if ok, err := s.deliver(e); ok || err != nil {
			return err
		}
		return logq.Errorf(logq.EInternal, "eventlog: gap in the event log: seq %d follows %d", e.Seq, s.last)
	}
	return nil
}

// decode turns an inserted events row (text-format columns) into an event.
func (s *stream) decode(rel *pglogrepl.RelationMessage, tuple *pglogrepl.TupleData) (logq.Event, error) {
	var e logq.Event
	if tuple == nil || len(tuple.Columns) != len(rel.Columns) {
		return e, logq.Errorf(logq.EInternal, "eventlog: events row does not match its relation")
	}
	for i, col := range tuple.Columns {
		name := rel.Columns[i].Name
		if col.DataType != pglogrepl.TupleDataTypeText {
			return e, logq.Errorf(logq.EInternal, "eventlog: events.%s is not sent as text (%q)", name, col.DataType)
		}
		var err error
		switch name {
		case "seq":
			e.Seq, err = strconv.ParseInt(string(col.Data), 10, 64)
		case "at":
			err = s.types.Scan(pgtype.TimestamptzOID, pgtype.TextFormatCode, col.Data, &e.At)
			e.At = e.At.UTC()
		case "type":
			e.Type = string(col.Data)
		case "data":
			e.Data = bytes.Clone(col.Data) // col.Data is reused by the next message
		case "epoch":
			e.Epoch, err = strconv.ParseInt(string(col.Data), 10, 64)
		}
		if err != nil {
			return e, logq.Internal(err, fmt.Sprintf("eventlog: decode events.%s", name))
		}
	}
	return e, nil
}
