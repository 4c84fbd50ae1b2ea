package api

// Header names.
const (
	// HeaderMinSeq asks a broker to apply the event log up to this seq
	// before serving the request (ownership, producer registrations).
	HeaderMinSeq = "X-Logq-Min-Seq"
	// HeaderForwarded marks a write forwarded by a reader manager to the
	// writer, naming the reader.
	HeaderForwarded = "X-Logq-Forwarded-By"
	// HeaderPrincipal names, on a write forwarded by a reader, the
	// principal the reader authenticated (the writer sees the reader's own
	// manager credentials). The writer honours it only from a manager
	// principal; a client's own header is never forwarded.
	HeaderPrincipal = "X-Logq-Principal"
)

// StatusSuccess and StatusFailure are the values of every answer's
// "status".
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
)

// ErrorBody is every error answer, of managers and brokers alike.
type ErrorBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// ItemFailure is one failed message of a batch.
type ItemFailure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
