package route

import (
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// headerOps are a VirtualService header manipulation in Envoy terms.
type headerOps struct {
	requestAdd, responseAdd       []*corev3.HeaderValueOption
	requestRemove, responseRemove []string
	// authority is the Host a request set/add asks for (set wins); Envoy rewrites it with
	// host_rewrite_literal rather than a header operation.
	authority string
}

// translateHeaders translates request and response set (overwrite), add (append) and
// remove. Pseudo-headers and Host cannot be changed this way and are dropped.
func translateHeaders(h *networkingv1alpha3.Headers) headerOps {
	req, resp := h.GetRequest(), h.GetResponse()
	reqSet, setAuthority := headerValues(req.GetSet(), false)
	reqAdd, addAuthority := headerValues(req.GetAdd(), true)
	respSet, _ := headerValues(resp.GetSet(), false)
	respAdd, _ := headerValues(resp.GetAdd(), true)
	ops := headerOps{
		requestAdd:     append(reqSet, reqAdd...),
		responseAdd:    append(respSet, respAdd...),
		requestRemove:  dropInternal(req.GetRemove()),
		responseRemove: dropInternal(resp.GetRemove()),
		authority:      addAuthority,
	}
	if setAuthority != "" {
		ops.authority = setAuthority
	}
	return ops
}

// headerValues turns a header map into options sorted by name, appending or
// overwriting, and returns the authority it sets, if any.
func headerValues(headers map[string]string, appendValue bool) ([]*corev3.HeaderValueOption, string) {
	if len(headers) == 0 {
		return nil, ""
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	if appendValue {
		action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	}
	var out []*corev3.HeaderValueOption
	authority := ""
	for _, k := range keys {
		if strings.EqualFold(k, headerAuthority) || strings.EqualFold(k, "host") {
			authority = headers[k]
		}
		if isInternalHeader(k) {
			continue
		}
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: headers[k]},
			AppendAction: action,
		})
	}
	return out, authority
}

func isInternalHeader(k string) bool {
	return strings.HasPrefix(k, ":") || strings.EqualFold(k, "host")
}

func dropInternal(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !isInternalHeader(k) {
			out = append(out, k)
		}
	}
	return out
}
