package model

import (
	"maps"
	"time"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// TriggerReason says why a push happened, with istiod's names (pilot_push_triggers).
type TriggerReason string

// Reasons.
const (
	EndpointUpdate  TriggerReason = "endpoint"
	ConfigUpdate    TriggerReason = "config"
	ServiceUpdate   TriggerReason = "service"
	ProxyUpdate     TriggerReason = "proxy"
	GlobalUpdate    TriggerReason = "global"
	UnknownTrigger  TriggerReason = "unknown"
	DebugTrigger    TriggerReason = "debug"
	SecretTrigger   TriggerReason = "secret"
	NamespaceUpdate TriggerReason = "namespace"
)

// PushRequest asks for a push: which configs changed and whether the push is full (all
// types) or incremental (EDS only). Requests merge while they are debounced.
type PushRequest struct {
	// Full is true when anything but endpoints may have changed: every type is
	// regenerated for affected proxies. A non-full request only pushes endpoints.
	Full bool
	// ConfigsUpdated are the keys of the changed objects. Empty with Full means
	// "everything may have changed" (mesh config change, first push).
	ConfigsUpdated map[config.Key]struct{}
	// Reason counts the triggers merged into this request.
	Reason map[TriggerReason]int
	// Start is when the first merged change was seen: convergence time is measured from it.
	Start time.Time
	// Push is the PushContext to generate from, set when the request is handed to the
	// push queue.
	Push *PushContext
	// Forced requests are pushed even if nothing looks changed (debug, reconnects).
	Forced bool
	// EndpointHosts are the hostnames whose endpoints may have changed: only their
	// clusters' endpoints are regenerated and sent. Nil means all. Endpoint pushes set it
	// to the hosts whose endpoints changed, full pushes caused by DestinationRules alone to
	// the rules' hosts (a cluster's endpoints read only its own service's rule).
	EndpointHosts map[host.Name]bool
}

// Merge combines r and o into a new request; either may be nil. The earlier Start wins.
func (r *PushRequest) Merge(o *PushRequest) *PushRequest {
	if r == nil {
		return o
	}
	if o == nil {
		return r
	}
	out := &PushRequest{
		Full:   r.Full || o.Full,
		Start:  r.Start,
		Push:   o.Push,
		Forced: r.Forced || o.Forced,
		Reason: map[TriggerReason]int{},
	}
	if out.Push == nil {
		out.Push = r.Push
	}
	if r.EndpointHosts != nil && o.EndpointHosts != nil {
		out.EndpointHosts = make(map[host.Name]bool, len(r.EndpointHosts)+len(o.EndpointHosts))
		maps.Copy(out.EndpointHosts, r.EndpointHosts)
		maps.Copy(out.EndpointHosts, o.EndpointHosts)
	}
	if !o.Start.IsZero() && (out.Start.IsZero() || o.Start.Before(out.Start)) {
		out.Start = o.Start
	}
	for k, v := range r.Reason {
		out.Reason[k] += v
	}
	for k, v := range o.Reason {
		out.Reason[k] += v
	}
	// An empty key set on a full request means "everything": merging keeps that meaning.
	if (r.Full && len(r.ConfigsUpdated) == 0) || (o.Full && len(o.ConfigsUpdated) == 0) {
		return out
	}
	out.ConfigsUpdated = make(map[config.Key]struct{}, len(r.ConfigsUpdated)+len(o.ConfigsUpdated))
	for k := range r.ConfigsUpdated {
		out.ConfigsUpdated[k] = struct{}{}
	}
	for k := range o.ConfigsUpdated {
		out.ConfigsUpdated[k] = struct{}{}
	}
	return out
}

// OnlyEndpoints reports whether every changed key is an endpoint change (EndpointSlice
// or WorkloadEntry address churn), so the request can skip full pushes.
func (r *PushRequest) OnlyEndpoints() bool {
	if r == nil || r.Full || len(r.ConfigsUpdated) == 0 {
		return false
	}
	for k := range r.ConfigsUpdated {
		if k.Kind != schema.EndpointSlice {
			return false
		}
	}
	return true
}
