package kafka

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq/auth"
)

// SASL on the listener (docs/kafka.md, "Security"). With Config.Auth set,
// a connection must authenticate before anything but ApiVersions,
// SaslHandshake and SaslAuthenticate is answered (any other request closes
// it, as Kafka's SASL listeners do). SaslHandshake names a mechanism
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); SaslAuthenticate (after handshake
// v1) or raw size-prefixed tokens (after handshake v0, KIP-152's older
// framing) carry the exchange. A failed authentication answers
// SASL_AUTHENTICATION_FAILED and closes the connection. Without
// Config.Auth both SASL APIs answer ILLEGAL_SASL_STATE, as a Kafka
// PLAINTEXT listener does.

// Mechanisms are the SASL mechanisms the listener offers.
var Mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// errCloseAfter asks the connection to send the answer, then close.
var errCloseAfter = errors.New("kafka: close after answering")

// saslState is one connection's authentication.
type saslState struct {
	mech      string      // after SaslHandshake; "" before
	raw       bool        // handshake v0: the next frames are raw tokens
	scram     *auth.SCRAM // an SCRAM exchange in progress
	compat    *scramCompat
	principal auth.Principal
	authed    bool
}

// preAuth reports whether key may be answered before authentication.
func preAuth(key int16) bool {
	return key == kmsg.ApiVersions.Int16() || key == kmsg.SASLHandshake.Int16() || key == kmsg.SASLAuthenticate.Int16()
}

// authenticated reports whether the connection may send any request: auth
// is off, or it has logged in.
func (h *handler) authenticated() bool { return h.s.cfg.Auth == nil || h.sasl.authed }

func (h *handler) saslHandshake(req *kmsg.SASLHandshakeRequest) *kmsg.SASLHandshakeResponse {
	resp := kmsg.NewPtrSASLHandshakeResponse()
	if h.s.cfg.Auth == nil || h.sasl.authed || h.sasl.mech != "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	}
	resp.SupportedMechanisms = slices.Clone(Mechanisms)
	if !slices.Contains(Mechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp
	}
	h.sasl.mech = req.Mechanism
	h.sasl.raw = req.Version == 0
	return resp
}

// saslStep runs one step of the exchange: the server's answer, whether
// it is over, and an error when authentication failed.
func (h *handler) saslStep(msg []byte) (out []byte, done bool, err error) {
	a := h.s.cfg.Auth
	switch h.sasl.mech {
	case "PLAIN":
		p, err := a.Plain(msg)
		if err != nil {
			return nil, true, err
		}
		h.sasl.principal, h.sasl.authed = p, true
		return nil, true, nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		mech := auth.SCRAMSHA256
		if h.sasl.mech == "SCRAM-SHA-512" {
			mech = auth.SCRAMSHA512
		}
		first := h.sasl.scram == nil
		if first {
			s, err := a.SCRAM(mech)
			if err != nil {
				return nil, true, err
			}
			h.sasl.scram = s
		}
		if c := h.sasl.compat; c != nil && c.legacyFinal(string(msg)) { // scramcompat.go
			out, p, err := c.verify(a.Directory(), string(msg))
			h.sasl.compat, h.sasl.scram = nil, nil
			if err != nil {
				return nil, true, err
			}
			h.sasl.principal, h.sasl.authed = p, true
			return out, true, nil
		}
		h.sasl.compat = nil
		out, err := h.sasl.scram.Step(msg)
		if err != nil {
			return out, true, err
		}
		if first {
			h.sasl.compat = observeFirst(mech, string(msg), string(out))
		}
		if !h.sasl.scram.Done() {
			return out, false, nil
		}
		p, err := h.sasl.scram.Principal()
		if err != nil {
			return out, true, err
		}
		h.sasl.principal, h.sasl.authed, h.sasl.scram = p, true, nil
		return out, true, nil
	}
	return nil, true, kerr.IllegalSaslState
}

func (h *handler) saslAuthenticate(req *kmsg.SASLAuthenticateRequest) (*kmsg.SASLAuthenticateResponse, error) {
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	if h.s.cfg.Auth == nil || h.sasl.authed || h.sasl.mech == "" || h.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, errCloseAfter
	}
	out, _, err := h.saslStep(req.SASLAuthBytes)
	resp.SASLAuthBytes = out
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "authentication failed: wrong user name, password or mechanism"
		resp.ErrorMessage = &msg
		h.s.log.Info().Str("mechanism", h.sasl.mech).Str("client", h.clientHost).Msg("kafka SASL authentication failed")
		return resp, errCloseAfter
	}
	return resp, nil
}

// rawSASL answers one raw token (after SaslHandshake v0): the server's
// token, size-prefixed; a failure closes the connection without answer,
// as Kafka does for this framing.
func (h *handler) rawSASL(buf []byte) ([]byte, error) {
	out, done, err := h.saslStep(buf)
	if err != nil {
		h.s.log.Info().Str("mechanism", h.sasl.mech).Str("client", h.clientHost).Msg("kafka SASL authentication failed")
		return nil, err
	}
	if done {
		h.sasl.raw = false
	}
	if h.sasl.mech == "PLAIN" {
		return binary.BigEndian.AppendUint32(nil, 0), nil // an empty token: success
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(out))), out...), nil
}
