package httpguard

// InFlight returns the requests counted against MaxRequests and the body
// bytes reserved right now (what the limit tests watch).
func (g *Guard) InFlight() (requests int, bytes int64) {
	return int(g.requests.Load()), g.bytes.Load()
}
