// Package netaddr works out the address other processes reach a listener
// at, for servers that announce themselves (brokers to managers, managers
// to their peers).
package netaddr

import (
	"net"
	"os"
	"strconv"
)

// Advertise returns the address others reach a listener at a at: a itself,
// or the host name with a's port for a listener on all interfaces.
func Advertise(a net.Addr) string {
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
