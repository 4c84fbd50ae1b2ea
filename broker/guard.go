package broker

import "github.com/logq/logq/internal/httpguard"

// guardConfig configures the HTTP guard from the broker's config.
func (s *server) guardConfig() httpguard.Config {
	return httpguard.Config{
		AllowedHosts:     append([]string{s.cfg.AdvertiseAddr, s.cfg.ListenAddr}, s.cfg.AllowedHosts...),
		MaxRequests:      s.cfg.MaxRequests,
		MaxInflightBytes: s.cfg.MaxInflightBytes,
		MaxBodyBytes:     s.cfg.MaxRequestBytes,
		Exempt:           []string{"/healthz", "/metrics"},
		WriteError:       s.writeError,
	}
}
