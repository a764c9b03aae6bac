package endpoint

import (
	"strconv"
	"strings"

	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// clusterKey is a parsed EDS cluster name.
type clusterKey struct {
	direction string // "outbound" or "inbound"
	port      int
	subset    string
	host      host.Name
	// dnsSRV is set for the "outbound_.port_.subset_.host" form, which gateways in
	// AUTO_PASSTHROUGH mode use; only mTLS endpoints may be sent for it.
	dnsSRV bool
}

// parseClusterKey parses "direction|port|subset|host" or
// "direction_.port_.subset_.host". ok is false for any other name.
func parseClusterKey(name string) (k clusterKey, ok bool) {
	sep := "|"
	if strings.HasPrefix(name, "outbound_.") || strings.HasPrefix(name, "inbound_.") {
		sep, k.dnsSRV = "_.", true
	}
	parts := strings.SplitN(name, sep, 4)
	if len(parts) != 4 {
		return clusterKey{}, false
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil || parts[3] == "" || strings.Contains(parts[3], sep) {
		return clusterKey{}, false
	}
	k.direction, k.port, k.subset, k.host = parts[0], port, parts[2], host.Name(parts[3])
	return k, true
}
