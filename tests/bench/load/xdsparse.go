package load

import (
	"sort"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const hcmType = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

// resourceName reads field 1 of a serialized resource: the name of a Cluster, Listener,
// RouteConfiguration and ClusterLoadAssignment alike. Decoding thousands of clusters per
// response per proxy would cost the driver more CPU than the server under test spends.
// It reads the first occurrence and stops there: patches appended to a cached encoding
// (protoconv.SharedMerged) do not rename.
func resourceName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return string(v)
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

// scanCluster reads a serialized Cluster's name, whether it is an EDS cluster, and its
// eds_cluster_config.service_name, without decoding or copying the rest.
func scanCluster(b []byte) (name []byte, eds bool, serviceName []byte) {
	const (
		fieldName      = 1
		fieldType      = 2 // cluster_discovery_type.type
		fieldEDSConfig = 3
		fieldService   = 2 // EdsClusterConfig.service_name
		typeEDS        = 3 // Cluster.DiscoveryType EDS
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		switch {
		case num == fieldName && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return
			}
			name, b = v, b[n:]
			continue
		case num == fieldType && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return
			}
			eds, b = v == typeEDS, b[n:]
			continue
		case num == fieldEDSConfig && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return
			}
			// A message met again merges into the first (a patch appended to a cached
			// encoding): its service name replaces the one read only if it has one.
			if svc := bytesField(v, fieldService); svc != nil {
				serviceName = svc
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return
		}
		b = b[n:]
	}
	return
}

// bytesField returns the bytes of a singular length-delimited field of a serialized
// message (the last occurrence, as a parser keeps), nil when it has none.
func bytesField(b []byte, field protowire.Number) []byte {
	var out []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return out
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return out
		}
		if num == field && typ == protowire.BytesType {
			out, _ = protowire.ConsumeBytes(b)
		}
		b = b[n:]
	}
	return out
}

// edsName is the name Envoy subscribes to for a serialized cluster ("" if not EDS): its
// EDS service name, else its own name.
func edsName(b []byte) string { return string(edsNameBytes(b)) }

// edsNameBytes is edsName as a view into b.
func edsNameBytes(b []byte) []byte {
	name, eds, svc := scanCluster(b)
	if !eds {
		return nil
	}
	if len(svc) > 0 {
		return svc
	}
	return name
}

// routeNames returns the RDS route names a serialized Listener's HTTP connection managers
// ask for.
func routeNames(b []byte) ([]string, error) {
	l := &listenerv3.Listener{}
	if err := proto.Unmarshal(b, l); err != nil {
		return nil, err
	}
	var out []string
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, l.GetDefaultFilterChain())
	}
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc.GetTypeUrl() != hcmType {
				continue
			}
			hcm := &hcmv3.HttpConnectionManager{}
			if err := proto.Unmarshal(tc.GetValue(), hcm); err != nil {
				return nil, err
			}
			if n := hcm.GetRds().GetRouteConfigName(); n != "" {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// sortedSet returns the distinct non-empty names, sorted.
func sortedSet(names map[string]struct{}) []string {
	out := make([]string, 0, len(names))
	for n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
