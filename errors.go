package logq

import (
	"errors"
	"fmt"
)

// Error codes: the one error vocabulary of logq. Every package returns errors
// that carry one of these codes (or wraps one), the HTTP layer maps codes to
// status codes in one place, and the client maps answers back to the same
// codes so errors.Is works across the wire.
const (
	EInvalid          = "invalid"            // bad input: 400
	ETooLarge         = "too_large"          // body or message over a limit: 413
	EForbidden        = "forbidden"          // refused whoever asks (cross-site, foreign Host): 403
	ENotFound         = "not_found"          // generic not found: 404
	ETopicNotFound    = "topic_not_found"    // 404
	EProducerNotFound = "producer_not_found" // 404
	EConsumerNotFound = "consumer_not_found" // 404
	EBrokerNotFound   = "broker_not_found"   // 404
	EConflict         = "conflict"           // state conflict: 409
	ETopicExists      = "topic_exists"       // 409
	EFenced           = "fenced"             // stale epoch or ownership moved: 409
	EBrokerRemoved    = "broker_removed"     // 410
	ENotWriter        = "not_writer"         // this manager cannot write and no writer is known: 503
	EUnavailable      = "unavailable"        // try again later: 503
	ETimeout          = "timeout"            // bounded wait expired: 503
	EInternal         = "internal"           // a bug or an infrastructure failure: 500
	EUnauthenticated  = "unauthenticated"    // missing or wrong credentials: 401
	EThrottled        = "throttled"          // over a per-principal quota: 429

	EOutOfOrderSequence = "out_of_order_sequence" // idempotent produce: a sequence that does not follow the last: 409
	EProducerFenced     = "producer_fenced"       // idempotent produce: an epoch older than the producer's: 409
	EOffsetOutOfRange   = "offset_out_of_range"   // fetch below the log start or past the high watermark: 416

	// Consumer groups (docs/groups.md), Kafka's error names.
	ERebalanceInProgress   = "rebalance_in_progress"   // the group is rebalancing: rejoin. 409
	EIllegalGeneration     = "illegal_generation"      // a generation the group is not at: 409
	EUnknownMemberID       = "unknown_member_id"       // not a member of the group: 409
	EGroupNotFound         = "group_not_found"         // 404
	EGroupNotEmpty         = "group_not_empty"         // the group still has members: 409
	EInvalidSessionTimeout = "invalid_session_timeout" // session timeout outside the allowed range: 400
)

// Error is an error with a code from the vocabulary above and a message fit
// for a client. Internal errors keep their cause out of Message.
type Error struct {
	Code    string
	Message string
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		if e.Message == "" {
			return e.cause.Error()
		}
		return e.Message + ": " + e.cause.Error()
	}
	if e.Message == "" {
		return e.Code
	}
	return e.Message
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code. A sentinel
// such as ErrTopicNotFound therefore matches any error of its code,
// whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error: its text is logged, never sent.
func Internal(err error, context string) *Error {
	return &Error{Code: EInternal, Message: context, cause: err}
}

// ErrorCode returns the code of the first *Error in err's chain; EInternal
// for any other non-nil error, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns a message safe to show a client: the message of a
// non-internal *Error, or a generic text otherwise.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal && e.Message != "" {
		return e.Message
	}
	return "internal error"
}

// Sentinels for errors.Is.
var (
	ErrInvalid          = &Error{Code: EInvalid}
	ErrTooLarge         = &Error{Code: ETooLarge}
	ErrForbidden        = &Error{Code: EForbidden}
	ErrNotFound         = &Error{Code: ENotFound}
	ErrTopicNotFound    = &Error{Code: ETopicNotFound}
	ErrProducerNotFound = &Error{Code: EProducerNotFound}
	ErrConsumerNotFound = &Error{Code: EConsumerNotFound}
	ErrBrokerNotFound   = &Error{Code: EBrokerNotFound}
	ErrConflict         = &Error{Code: EConflict}
	ErrTopicExists      = &Error{Code: ETopicExists}
	ErrFenced           = &Error{Code: EFenced}
	ErrBrokerRemoved    = &Error{Code: EBrokerRemoved}
	ErrNotWriter        = &Error{Code: ENotWriter}
	ErrUnavailable      = &Error{Code: EUnavailable}
	ErrTimeout          = &Error{Code: ETimeout}
	ErrInternal         = &Error{Code: EInternal}
	ErrUnauthenticated  = &Error{Code: EUnauthenticated}
	ErrThrottled        = &Error{Code: EThrottled}

	ErrOutOfOrderSequence = &Error{Code: EOutOfOrderSequence}
	ErrProducerFenced     = &Error{Code: EProducerFenced}
	ErrOffsetOutOfRange   = &Error{Code: EOffsetOutOfRange}

	ErrRebalanceInProgress   = &Error{Code: ERebalanceInProgress}
	ErrIllegalGeneration     = &Error{Code: EIllegalGeneration}
	ErrUnknownMemberID       = &Error{Code: EUnknownMemberID}
	ErrGroupNotFound         = &Error{Code: EGroupNotFound}
	ErrGroupNotEmpty         = &Error{Code: EGroupNotEmpty}
	ErrInvalidSessionTimeout = &Error{Code: EInvalidSessionTimeout}
)

// HTTPStatus maps an error code to its HTTP status code. It is the one
// place where codes meet HTTP.
func HTTPStatus(code string) int {
	switch code {
	case EInvalid, EInvalidSessionTimeout:
		return 400
	case EForbidden:
		return 403
	case ENotFound, ETopicNotFound, EProducerNotFound, EConsumerNotFound, EBrokerNotFound, EGroupNotFound:
		return 404
	case EConflict, ETopicExists, EFenced,
		ERebalanceInProgress, EIllegalGeneration, EUnknownMemberID, EGroupNotEmpty:
		return 409
	case EBrokerRemoved:
		return 410
	case ETooLarge:
		return 413
	case ENotWriter, EUnavailable, ETimeout:
		return 503
	case EUnauthenticated:
		return 401
	case EThrottled:
		return 429
	case EOutOfOrderSequence, EProducerFenced:
		return 409
	case EOffsetOutOfRange:
		// 416 rather than 400: the request is well formed and the same
		// offset may have been (or become) valid; a client resets its
		// position by its policy on this status without parsing the code.
		return 416
	default:
		return 500
	}
}

// CodeForStatus is the inverse used by clients when an answer carries no
// code: the most general code for a status.
func CodeForStatus(status int) string {
	switch {
	case status == 400:
		return EInvalid
	case status == 403:
		return EForbidden
	case status == 404:
		return ENotFound
	case status == 409:
		return EConflict
	case status == 410:
		return EBrokerRemoved
	case status == 413:
		return ETooLarge
	case status == 416:
		return EOffsetOutOfRange
	case status == 503:
		return EUnavailable
	case status == 401:
		return EUnauthenticated
	case status == 429:
		return EThrottled
	case status >= 400 && status < 500:
		return EInvalid
	default:
		return EInternal
	}
}
