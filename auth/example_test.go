package auth_test

import (
	"fmt"

	"github.com/xdg-go/scram"

	"github.com/logq/logq/auth"
)

// A Kafka listener's SASL handshake: SCRAM-SHA-256 server side, then an
// authorization check per request. (The client side here is xdg-go/scram's,
// as a Kafka client would run it.)
func ExampleAuthenticator() {
	creds, _ := auth.NewCredentials("s3cret")
	var dir *auth.Directory
	dir = dir.WithPrincipal(auth.Principal{Name: "app", Kind: auth.KindClient, SCRAM: creds})
	dir = dir.WithACL(auth.ACL{Principal: "app", Resource: auth.Topic, Pattern: auth.Literal, Name: "orders", Operation: auth.OpProduce, Effect: auth.Allow})
	a := auth.NewAuthenticator(func() *auth.Directory { return dir }) // a server passes its current state's Security

	// SaslHandshake named SCRAM-SHA-256; each SaslAuthenticate carries one message.
	srv, _ := a.SCRAM(auth.SCRAMSHA256)
	cl, _ := scram.SHA256.NewClient("app", "s3cret", "")
	conv := cl.NewConversation()
	msg, _ := conv.Step("")
	for !srv.Done() {
		out, err := srv.Step([]byte(msg)) // send out back in the SaslAuthenticate answer
		if err != nil {
			fmt.Println("authentication failed")
			return
		}
		msg, _ = conv.Step(string(out))
	}
	p, err := srv.Principal()
	fmt.Println(p.Name, err)

	// SASL PLAIN: one message, authzid NUL user NUL password.
	p2, err := a.Plain([]byte("\x00app\x00s3cret"))
	fmt.Println(p2.Name, err)

	// Then per request: Produce to "orders" and to "other".
	fmt.Println(a.Authorize(p, auth.Resource{Type: auth.Topic, Name: "orders"}, auth.OpProduce))
	fmt.Println(a.Authorize(p, auth.Resource{Type: auth.Topic, Name: "other"}, auth.OpProduce))
	// Output:
	// app <nil>
	// app <nil>
	// true
	// false
}
