// Package auth is logq's security model, pure and shared by every server
// and listener: principals (admin, broker, manager, client), their secrets
// kept only as salted hashes (bearer tokens as the SHA-256 of a random
// 32-byte token, passwords as SCRAM credentials: salt, iterations,
// StoredKey and ServerKey per mechanism), ACLs on topics, groups and the
// cluster, and the decisions over them.
//
// The control plane's events (package projection) build a *Directory;
// servers read the current one and ask it:
//
//	p, err := auth.AuthenticateHTTP(dir, r.Header.Get("Authorization"), cache) // HTTP: bearer or basic
//	conv, err := auth.NewSCRAM(auth.SCRAMSHA256, lookup)                         // Kafka SASL SCRAM
//	p, err := auth.Plain(dir, user, password, cache)                              // Kafka SASL PLAIN
//	ok := auth.Authorize(dir, p, auth.Resource{Type: auth.Topic, Name: "t"}, auth.OpProduce)
//
// Nothing here does I/O, reads a clock or draws randomness except the
// functions that make new secrets (NewToken, NewPassword, NewCredentials),
// which take their randomness from crypto/rand.
package auth
