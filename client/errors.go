package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"syscall"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// Sentinel errors, for errors.Is. They are logq's own sentinels: an error
// returned by this package matches the sentinel of its code.
var (
	ErrInvalid          = logq.ErrInvalid
	ErrTooLarge         = logq.ErrTooLarge
	ErrNotFound         = logq.ErrNotFound
	ErrTopicNotFound    = logq.ErrTopicNotFound
	ErrProducerNotFound = logq.ErrProducerNotFound
	ErrConsumerNotFound = logq.ErrConsumerNotFound
	ErrBrokerNotFound   = logq.ErrBrokerNotFound
	ErrConflict         = logq.ErrConflict
	ErrTopicExists      = logq.ErrTopicExists
	ErrFenced           = logq.ErrFenced
	ErrBrokerRemoved    = logq.ErrBrokerRemoved
	ErrNotWriter        = logq.ErrNotWriter
	ErrUnavailable      = logq.ErrUnavailable
	ErrTimeout          = logq.ErrTimeout
	ErrInternal         = logq.ErrInternal
)

// ErrClosed is returned by a Producer used after Close.
var ErrClosed = errors.New("logq client: producer closed")

// Error is an error answered by a logq server (StatusCode > 0), or the last
// transport error once retries are exhausted (StatusCode 0, Code
// "unavailable"). errors.Is matches it against logq's sentinels by Code, and
// errors.As finds a *logq.Error in its chain.
type Error struct {
	StatusCode int    // HTTP status; 0 when no server answered
	Code       string // logq error code, e.g. "topic_not_found"
	Message    string // the server's message
	Method     string // the request that failed
	URL        string
	// MemberID is the member id a group join was given when it outlasted
	// the coordinator's long poll (rebalance_in_progress): rejoin with it.
	MemberID string

	cause error // transport error, when StatusCode is 0
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code
		if e.StatusCode > 0 {
			msg = fmt.Sprintf("%s (HTTP %d)", e.Code, e.StatusCode)
		}
	}
	if e.cause != nil {
		return msg + ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is a logq sentinel (or *Error) of the same code.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *logq.Error:
		return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
	case *Error:
		return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// Unwrap returns the equivalent *logq.Error, and the transport error when
// there is one.
func (e *Error) Unwrap() []error {
	errs := []error{&logq.Error{Code: e.Code, Message: e.Message}}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// errorFromResponse builds the *Error for a non-2xx answer.
func errorFromResponse(req *http.Request, status int, body []byte) *Error {
	e := &Error{StatusCode: status, Method: req.Method, URL: redactURL(req.URL.String())}
	var f api.JoinFailure // an ErrorBody, and a join's member id
	if api.Unmarshal(body, &f) == nil {
		e.Code, e.Message, e.MemberID = f.Code, f.Message, f.MemberID
	}
	if e.Code == "" {
		e.Code = logq.CodeForStatus(status)
	}
	if e.Message == "" {
		text := strings.TrimSpace(string(body))
		if len(text) > 200 || strings.HasPrefix(text, "{") {
			text = ""
		}
		if text == "" {
			text = http.StatusText(status)
		}
		e.Message = fmt.Sprintf("%s %s: %s (HTTP %d)", req.Method, redactURL(req.URL.String()), text, status)
	}
	return e
}

// itemError is an error for one message of a batch (the server's
// {"error":{"code","message"}}).
func itemError(code, message string) *Error {
	if code == "" {
		code = logq.EInternal
	}
	return &Error{Code: code, Message: message}
}

// retryableCode reports whether an answer with this code may succeed if
// repeated (on this or another manager).
func retryableCode(code string) bool {
	switch code {
	case logq.ENotWriter, logq.EUnavailable, logq.ETimeout:
		return true
	}
	return false
}

// retryable reports whether err (from one attempt) is worth another one.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		if e.StatusCode == 0 {
			return true
		}
		return retryableCode(e.Code) || e.StatusCode == http.StatusBadGateway ||
			e.StatusCode == http.StatusServiceUnavailable || e.StatusCode == http.StatusGatewayTimeout
	}
	return isTransportError(err)
}

// isTransportError reports whether err means the request may not have
// reached a server, or its answer was lost: the next manager may do better.
func isTransportError(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// An attempt's own timeout (the caller's context is checked apart).
		return true
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// unavailable wraps the last transport error once retries are exhausted.
func unavailable(method, url string, cause error) *Error {
	var ue *neturl.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	return &Error{
		Code:    logq.EUnavailable,
		Message: fmt.Sprintf("cannot reach logq at %s", redactURL(url)),
		Method:  method,
		URL:     redactURL(url),
		cause:   cause,
	}
}

// redactURL drops the query string (it may be long) from a URL for messages.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
