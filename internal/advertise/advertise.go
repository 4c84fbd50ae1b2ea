// Package advertise says at which address others reach a server's
// listener, for the servers that tell others where they are (a broker
// registering with the managers, a manager naming itself in WriterElected).
package advertise

import (
	"net"
	"os"
	"strconv"
)

// Addr is the address others reach a listener at: its own, or the host
// name with its port for a listener on all interfaces.
func Addr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
