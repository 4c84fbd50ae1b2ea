// Package codecbench measures the JSON codecs logq could use on the data
// plane, per message, over all the JSON one batched produce and one batched
// consume cross end to end (client → manager → broker and back), and
// records how each codec treats invalid UTF-8 and lone surrogates.
//
// It holds no production code: the benchmarks and the strictness test are
// in its _test.go files, and docs/benchmarks.md ("JSON codec") gives the
// command, the figures and the decision they led to.
//
//	go test ./internal/codecbench -run '^$' -bench . -count=3 -benchtime=200x
package codecbench
