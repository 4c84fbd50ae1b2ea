package groups

// Waiting returns how many members of group wait in a join or a sync, for
// tests to wait on.
func (c *Coordinator) Waiting(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if g := c.groups[name]; g != nil {
		for _, m := range g.members {
			if m.joinWait != nil || m.syncWaiting {
				n++
			}
		}
	}
	return n
}
