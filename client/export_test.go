package client

import "time"

// RetryBudget exposes how long p retries a record, for the tests.
func (p *Producer) RetryBudget() time.Duration { return p.budget }
