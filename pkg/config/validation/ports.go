package validation

import (
	"fmt"

	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// checkPort checks a port number is in 1..65535.
func checkPort(port int64) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port number %d must be in the range 1..65535", port)
	}
	return nil
}

// checkPortName checks a port name is a DNS-1123 label.
func checkPortName(name string) error {
	if !isDNSLabel(name) {
		return fmt.Errorf("invalid port name: %s", name)
	}
	return nil
}

// checkProtocol checks a port protocol is one Istio knows; empty means "sniff".
func checkProtocol(name string) error {
	if name != "" && protocol.Parse(name) == protocol.Unsupported {
		return fmt.Errorf("unsupported protocol: %s", name)
	}
	return nil
}
