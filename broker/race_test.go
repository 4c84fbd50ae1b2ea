//go:build race

package broker

// raceEnabled: under the race detector sync.Pool drops some of what it is
// given, so reuse bounds do not hold.
const raceEnabled = true
