// Package httpfuzz holds what the HTTP fuzz targets of the manager and the
// broker share: requests built from raw fuzz input, and the rule that
// hostile input is a client's mistake, never an internal error.
package httpfuzz

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/logq/logq"
)

// ContentTypes are the content types a fuzz input picks from by index.
var ContentTypes = []string{
	"", "application/json", "application/x-www-form-urlencoded", "text/plain",
	"application/x-www-form-urlencoded; charset=utf-8", "multipart/form-data; boundary=x",
}

// ContentType picks a content type for fuzz byte i.
func ContentType(i uint8) string { return ContentTypes[int(i)%len(ContentTypes)] }

// Request builds a request from fuzz input without going through URL
// parsing (which would refuse some of it before the server sees it).
func Request(method, path, query, contentType string, body []byte) *http.Request {
	r := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: path, RawQuery: query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          "localhost", // a name the servers' Host check accepts
		RequestURI:    path,
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r.WithContext(context.Background())
}

// ClientError reports whether err is nil or a client's mistake (400 or
// 413), never an internal error.
func ClientError(err error) bool {
	if err == nil {
		return true
	}
	code := logq.ErrorCode(err)
	return code == logq.EInvalid || code == logq.ETooLarge
}
