package client

import (
	"sync/atomic"

	"github.com/logq/logq/api"
)

// A produce_batch answer holds a result per message, each a partition and
// an offset: the codec allocates both for every one. The servers' own
// form of a success without errors ({"status":"success","results":
// [{"partition":P,"offset":O},…] and maybe "duplicate":true, no space) is
// read by scanProduceAnswer into two arrays for the whole answer; anything
// else goes to the codec, which decodes it as before
// (FuzzScanProduceAnswer compares both).

// produceAnswerScans counts the answers scanProduceAnswer read (a test
// sees that it is taken).
var produceAnswerScans atomic.Int64

// scanProduceAnswer reads data into out; false, out untouched: leave it
// to the codec.
func scanProduceAnswer(data []byte, out *api.ProduceBatchAnswer) bool {
	sc := &scanner{s: string(data), ok: true}
	if !sc.lit(`{"status":"success","results":[`) || sc.lit(`]`) {
		return false
	}
	guess := min(len(data)/len(`{"partition":0,"offset":0},`)+1, MaxPoll+1)
	results := make([]api.BatchResult, 0, guess)
	parts := make([]int, 0, guess)
	offs := make([]int64, 0, guess)
	for {
		if !sc.lit(`{"partition":`) {
			return false
		}
		p := sc.int()
		if !sc.lit(`,"offset":`) {
			return false
		}
		o := sc.int()
		if !sc.ok || !sc.lit(`}`) {
			return false
		}
		if len(parts) == cap(parts) { // more than guessed: the pointers would move
			return false
		}
		parts, offs = append(parts, int(p)), append(offs, o)
		results = append(results, api.BatchResult{Partition: &parts[len(parts)-1], Offset: &offs[len(offs)-1]})
		if sc.lit(`]`) {
			break
		}
		if !sc.lit(`,`) {
			return false
		}
	}
	dup := sc.lit(`,"duplicate":true`)
	if !sc.lit(`}`) {
		return false
	}
	if sc.ws(); sc.i != len(sc.s) {
		return false
	}
	produceAnswerScans.Add(1)
	*out = api.ProduceBatchAnswer{Status: api.StatusSuccess, Results: results, Duplicate: dup}
	return true
}
