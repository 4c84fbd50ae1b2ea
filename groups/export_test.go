package groups

// Waiting returns how many members of group wait in a join or a sync, for
// tests to wait on.
func (c *Coordinator) Waiting(name string) int {
	g, err := c.lockGroup(name, false)
	if err != nil || g == nil {
		return 0
	}
	defer g.mu.Unlock()
	n := 0
	for _, m := range g.members {
		if m.joinWait != nil || m.syncWaiting {
			n++
		}
	}
	return n
}
