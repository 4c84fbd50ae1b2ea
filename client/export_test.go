package client

import "time"

// RetryBudget exposes how long p retries a record, for the tests.
func (p *Producer) RetryBudget() time.Duration { return p.budget }

// StatusDecodes is how many 2xx answers c decoded twice (status first).
func StatusDecodes(c *Client) int64 { return c.statusDecodes.Load() }

// SlowDecodes is how many poll answers the generic codec decoded (the
// scanner did not read them: decode.go).
func SlowDecodes() int64 { return decodeStats.slow.Load() }
