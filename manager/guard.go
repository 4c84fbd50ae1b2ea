package manager

import "github.com/logq/logq/internal/httpguard"

// guardConfig configures the HTTP guard from the manager's config.
func (m *Manager) guardConfig() httpguard.Config {
	return httpguard.Config{
		AllowedHosts:     append([]string{m.cfg.AdvertiseURL}, m.cfg.AllowedHosts...),
		MaxRequests:      m.cfg.MaxRequests,
		MaxInflightBytes: m.cfg.MaxInflightBytes,
		MaxBodyBytes:     m.cfg.MaxBodyBytes,
		Exempt:           []string{"/healthz", "/metrics"},
		WriteError:       m.writeError,
	}
}
