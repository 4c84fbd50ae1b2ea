//go:build race

package kafka

// raceEnabled: the race detector's instrumentation allocates, so
// allocation bounds do not hold under it.
const raceEnabled = true
