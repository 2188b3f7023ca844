package flowtable

import "fmt"

// Key is a TCP 4-tuple seen from our side: a small comparable value, usable
// as a map key and hashed without allocating. Addresses are IPv4 in network
// byte order.
type Key struct {
	LocalAddr  [4]byte
	RemoteAddr [4]byte
	LocalPort  uint16
	RemotePort uint16
}

func (k Key) String() string {
	return fmt.Sprintf("%d.%d.%d.%d:%d-%d.%d.%d.%d:%d",
		k.LocalAddr[0], k.LocalAddr[1], k.LocalAddr[2], k.LocalAddr[3], k.LocalPort,
		k.RemoteAddr[0], k.RemoteAddr[1], k.RemoteAddr[2], k.RemoteAddr[3], k.RemotePort)
}
