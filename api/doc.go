// Package api is logq's wire contract: every request and answer of the
// manager HTTP API and of the broker HTTP API, the header names, the one
// error body, the partitioner, and the rules by which servers read lenient
// input. The client, the managers and the brokers import it and define no
// wire types of their own (docs/api.md describes the same contract for
// people).
//
// Requests come in two forms. A XxxParams type is what a server accepts: it
// is decoded once, by Decode, from the query string and a JSON or form
// body, with the aliases and lenient scalars (Str, Int, Text, Bool) that
// clients of other implementations send; its Request method checks it and
// returns the canonical XxxRequest. A XxxRequest is what a sender encodes:
// canonical names only, strict in what is sent.
//
// JSON goes through this package's codec (Marshal, Unmarshal), which
// refuses invalid UTF-8, data after the value and lone UTF-16 surrogates.
package api
