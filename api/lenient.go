package api

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/logq/logq"
)

// The lenient-input rules, decided once (docs/api.md, "Lenient input"):
//
//  1. A body starting with '{' is JSON, whatever the content type says.
//     Otherwise it is a form when the content type is
//     application/x-www-form-urlencoded, or when there is no content type
//     and the body holds '='. Anything else is refused with 400.
//  2. Parameters from the body win over the query string. Within one
//     source, a parameter's names are looked up in their listed order (the
//     canonical name first, then the aliases). A JSON null counts as
//     absent, so a query value shows through.
//  3. Integers may be JSON integers, numeric strings, or numbers that are
//     exactly integral (5.0, 1e3); fractions are refused.
//
// A XxxParams struct holds one lenient scalar per accepted name; Decode
// fills it from the query string and the body (JSON through the codec,
// forms through one binder cached per type), and its Request method
// resolves names and ranges.

// Sources of a lenient scalar, in increasing precedence.
const (
	srcNone uint8 = iota
	srcQuery
	srcBody
)

// state is what every lenient scalar records: where its value came from
// and whether it had the wrong type.
type state struct {
	src uint8
	bad bool
}

func (s *state) present() *state { return s }

type scalar interface{ present() *state }

// choose returns the index of the value that counts among the names of one
// parameter: the body's before the query's, the first listed within one
// source; -1 when none is present.
func choose[T scalar](vs []T) int {
	best, at := srcNone, -1
	for i, v := range vs {
		if st := v.present(); st.src > best {
			best, at = st.src, i
		}
	}
	return at
}

// Str is a string parameter: a JSON string, or a query or form value.
type Str struct {
	V string
	state
}

// UnmarshalJSON implements json.Unmarshaler: null is absent; a non-string
// is remembered as a type error for Request to report with its name.
func (s *Str) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	s.src, s.bad, s.V = srcBody, false, ""
	if len(b) == 0 || b[0] != '"' {
		s.bad = true
		return nil
	}
	return unquote(b, &s.V)
}

func (s *Str) setText(v string, src uint8) { s.V, s.src, s.bad = v, src, false }

// Text is a message text: a JSON string, or the text of a JSON number or
// boolean, or a query or form value.
type Text struct {
	V string
	state
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	t.src, t.bad, t.V = srcBody, false, ""
	switch {
	case len(b) == 0:
		t.bad = true
	case b[0] == '"':
		return unquote(b, &t.V)
	case b[0] == '{' || b[0] == '[':
		t.bad = true
	default: // a number, true or false: its text
		t.V = string(b)
	}
	return nil
}

func (t *Text) setText(v string, src uint8) { t.V, t.src, t.bad = v, src, false }

// Int is an integer parameter: a JSON integer, a numeric string, or an
// exactly integral number (5.0, 1e3).
type Int struct {
	V int64
	state
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	n.src, n.V = srcBody, 0
	text := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := unquote(b, &text); err != nil {
			return err
		}
	}
	n.V, n.bad = parseInt(text)
	return nil
}

func (n *Int) setText(v string, src uint8) {
	n.src = src
	n.V, n.bad = parseInt(v)
}

// parseInt reads an integer by rule 3; bad reports a value that is none.
func parseInt(text string) (v int64, bad bool) {
	text = strings.TrimSpace(text)
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, false
	}
	if text == "" || strings.Trim(text, "0123456789.eE+-") != "" {
		return 0, true
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		return 0, true
	}
	return int64(f), false
}

// Bool is a boolean parameter: a JSON boolean, or true/false/1/0 as text.
type Bool struct {
	V bool
	state
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Bool) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	v.src, v.bad, v.V = srcBody, false, false
	switch string(b) {
	case "true":
		v.V = true
	case "false":
	default:
		text := string(b)
		if len(b) > 0 && b[0] == '"' {
			if err := unquote(b, &text); err != nil {
				return err
			}
		}
		v.setText(text, srcBody)
	}
	return nil
}

func (v *Bool) setText(s string, src uint8) {
	v.src = src
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	v.V, v.bad = b, err != nil
}

func isNull(b []byte) bool { return len(b) == 4 && string(b) == "null" }

// texter is a lenient scalar set from a query or form value.
type texter interface{ setText(v string, src uint8) }

var texterType = reflect.TypeFor[texter]()

// binding is one field a query or form value may set.
type binding struct {
	index []int
	name  string
}

var bindings sync.Map // reflect.Type → []binding

// bindingsOf lists the lenient scalars of a struct type by JSON name.
func bindingsOf(t reflect.Type) []binding {
	if b, ok := bindings.Load(t); ok {
		return b.([]binding)
	}
	var out []binding
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous || !f.IsExported() || !reflect.PointerTo(f.Type).Implements(texterType) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, binding{index: f.Index, name: name})
	}
	b, _ := bindings.LoadOrStore(t, out)
	return b.([]binding)
}

// bind sets dst's lenient scalars from vals.
func bind(dst reflect.Value, vals url.Values, src uint8) {
	for _, b := range bindingsOf(dst.Type()) {
		if vs := vals[b.name]; len(vs) > 0 {
			dst.FieldByIndex(b.index).Addr().Interface().(texter).setText(vs[0], src)
		}
	}
}

// ReadBody reads a request's whole (size-limited) body: over the limit is
// ETooLarge.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var b []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= maxPresized {
		// Read into a buffer of the announced size (and one byte more,
		// to see the end) instead of growing one from 512 bytes: a
		// produce_batch of 5,000 messages is copied 11 times otherwise.
		b, err = readAllInto(r.Body, make([]byte, 0, n+1))
	} else {
		b, err = io.ReadAll(r.Body)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, logq.Errorf(logq.ETooLarge, "request body over %d bytes", tooLarge.Limit)
		}
		return nil, logq.Errorf(logq.EInvalid, "cannot read the request body")
	}
	return b, nil
}

// maxPresized bounds the buffer ReadBody allocates on a request's word
// (its Content-Length) before reading: the size limit is the body
// reader's.
const maxPresized = 16 << 20

// readAllInto is io.ReadAll into b.
func readAllInto(r io.Reader, b []byte) ([]byte, error) {
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // announced too short: grow as ReadAll does
		}
	}
}

// Decode fills dst, a pointer to a XxxParams struct, from r's query string
// and body (read already, by ReadBody) by the lenient-input rules. Errors
// are logq EInvalid errors.
func Decode(r *http.Request, body []byte, dst any) error { return decodeParams(r, body, dst, true) }

// decodeParams is Decode, with the fast decode of fastdecode.go or without.
func decodeParams(r *http.Request, body []byte, dst any, fast bool) error {
	v := reflect.ValueOf(dst).Elem()
	var q url.Values
	if r.URL != nil && r.URL.RawQuery != "" {
		q = r.URL.Query()
		if err := checkUTF8(q); err != nil {
			return err
		}
		bind(v, q, srcQuery)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	// Text is UTF-8 everywhere (JSON requires it, PostgreSQL stores it):
	// refuse rather than let a decoder replace bad bytes silently.
	if !utf8.Valid(body) {
		return logq.Errorf(logq.EInvalid, "the request body is not valid UTF-8")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case body[0] == '{':
		// JSON, whatever the content type says: curl -d sends JSON with a
		// form content type unless told otherwise. The form the Go client
		// and the router send takes the fast decode (fastdecode.go), which
		// sets what the body gives over what the query gave, as the codec
		// does; when it gives up, dst is the query's alone again.
		if fd, ok := dst.(fastDecoder); ok && fast {
			if fd.decodeFast(string(body)) {
				fastDecodes.Add(1)
				return nil
			}
			v.SetZero()
			if q != nil {
				bind(v, q, srcQuery)
			}
		}
		if err := Unmarshal(body, dst); err != nil {
			return logq.Errorf(logq.EInvalid, "malformed JSON body: %s", syntaxText(err))
		}
	case ct == "application/x-www-form-urlencoded" || (ct == "" && bytes.IndexByte(body, '=') >= 0):
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return logq.Errorf(logq.EInvalid, "malformed form body")
		}
		if err := checkUTF8(vals); err != nil {
			return err
		}
		bind(v, vals, srcBody)
	default:
		return logq.Errorf(logq.EInvalid, "the request body must be a JSON object or a urlencoded form")
	}
	return nil
}

// checkUTF8 refuses query or form parameters that are not valid UTF-8,
// naming the first bad one in name order (the same every time; the names
// are sorted only when one is bad).
func checkUTF8(vals url.Values) error {
	valid := true
	for k, vs := range vals {
		valid = valid && utf8.ValidString(k)
		for _, v := range vs {
			valid = valid && utf8.ValidString(v)
		}
	}
	if valid {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !utf8.ValidString(k) {
			return logq.Errorf(logq.EInvalid, "a parameter name is not valid UTF-8")
		}
		for _, v := range vals[k] {
			if !utf8.ValidString(v) {
				return logq.Errorf(logq.EInvalid, "parameter %q is not valid UTF-8", k)
			}
		}
	}
	return nil
}

// Resolution of one parameter over its names (the canonical name first).

func str(names []string, vs ...*Str) (string, bool, error) {
	i := choose(vs)
	if i < 0 {
		return "", false, nil
	}
	if vs[i].bad {
		return "", false, logq.Errorf(logq.EInvalid, "%s must be a string", names[i])
	}
	return vs[i].V, true, nil
}

func requiredStr(names []string, vs ...*Str) (string, error) {
	s, ok, err := str(names, vs...)
	if err == nil && (!ok || s == "") {
		err = logq.Errorf(logq.EInvalid, "%s is required", names[0])
	}
	return s, err
}

func integer(names []string, lo, hi int64, vs ...*Int) (int64, bool, error) {
	i := choose(vs)
	if i < 0 {
		return 0, false, nil
	}
	if vs[i].bad {
		return 0, false, logq.Errorf(logq.EInvalid, "%s must be an integer between %d and %d", names[i], lo, hi)
	}
	if n := vs[i].V; n < lo || n > hi {
		return 0, false, logq.Errorf(logq.EInvalid, "%s must be between %d and %d; got %d", names[i], lo, hi, n)
	}
	return vs[i].V, true, nil
}

func requiredInt(names []string, lo, hi int64, vs ...*Int) (int64, error) {
	n, ok, err := integer(names, lo, hi, vs...)
	if err == nil && !ok {
		err = logq.Errorf(logq.EInvalid, "%s is required", names[0])
	}
	return n, err
}

func text(names []string, vs ...*Text) (string, error) {
	i := choose(vs)
	if i < 0 {
		return "", logq.Errorf(logq.EInvalid, "%s is required", names[0])
	}
	if vs[i].bad {
		return "", logq.Errorf(logq.EInvalid, "%s must be a string", names[i])
	}
	return vs[i].V, nil
}

func boolean(name string, v *Bool) (bool, error) {
	if v.src == srcNone {
		return false, nil
	}
	if v.bad {
		return false, logq.Errorf(logq.EInvalid, "%s must be true or false", name)
	}
	return v.V, nil
}
