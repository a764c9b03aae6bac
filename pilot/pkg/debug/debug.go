// Package debug serves istiod's debug and readiness endpoints over the ADS server and
// the config sources: /ready, /debug (index), /debug/syncz, /debug/config_dump,
// /debug/configz, /debug/adsz, /debug/registryz, /debug/push_status, /debug/connections,
// /debug/sidecarz, /debug/mesh, in the JSON shapes istioctl and operators expect.
package debug

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// ConfigLister lists the configuration objects the server serves (the Store).
type ConfigLister interface {
	Keys() []config.Key
	Get(config.Key) *config.Config
}

// Handler serves the debug endpoints.
type Handler struct {
	mux     *http.ServeMux
	server  *xds.Server
	configs ConfigLister
	ready   atomic.Bool
	index   []endpoint
	// ConfigDump builds a proxy's Envoy config dump (set by bootstrap: it needs generators).
	ConfigDump func(p *model.Proxy, pc *model.PushContext) (proto.Message, error)
}

type endpoint struct{ Path, Help string }

// New returns the debug handler.
func New(server *xds.Server, configs ConfigLister) *Handler {
	h := &Handler{mux: http.NewServeMux(), server: server, configs: configs}
	h.mux.HandleFunc("/ready", h.readyz)
	h.mux.HandleFunc("/debug", h.list)
	h.mux.HandleFunc("/debug/list", h.list)
	h.add("/debug/syncz", "Synchronization status of all proxies connected to this instance", h.syncz)
	h.add("/debug/adsz", "Status and debug interface for ADS", h.adsz)
	h.add("/debug/connections", "Info about the connected xDS clients", h.connections)
	h.add("/debug/config_dump", "Envoy config dump of the proxy given by ?proxyID=", h.configDump)
	h.add("/debug/configz", "The configuration objects being served", h.configz)
	h.add("/debug/registryz", "The services of the mesh", h.registryz)
	h.add("/debug/push_status", "Details of the last PushContext", h.pushStatus)
	h.add("/debug/sidecarz", "SidecarScope of the proxy given by ?proxyID=", h.sidecarz)
	h.add("/debug/mesh", "Active mesh config", h.mesh)
	// Go's profiles, where istiod serves them (go tool pprof host:8080/debug/pprof/heap).
	h.add("/debug/pprof/", "Go runtime profiles (net/http/pprof)", pprof.Index)
	h.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	h.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	h.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	h.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return h
}

func (h *Handler) add(path, help string, f http.HandlerFunc) {
	h.mux.HandleFunc(path, f)
	h.index = append(h.index, endpoint{path, help})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// SetReady marks the server ready (config loaded, ADS serving).
func (h *Handler) SetReady() { h.ready.Store(true) }

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if !h.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) list(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.index) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

// SyncStatus is one proxy's entry in /debug/syncz, istiod's format.
type SyncStatus struct {
	ClusterID     string `json:"cluster_id,omitempty"`
	ProxyID       string `json:"proxy,omitempty"`
	ProxyType     string `json:"proxy_type,omitempty"`
	IstioVersion  string `json:"istio_version,omitempty"`
	ClusterSent   string `json:"cluster_sent,omitempty"`
	ClusterAcked  string `json:"cluster_acked,omitempty"`
	ListenerSent  string `json:"listener_sent,omitempty"`
	ListenerAcked string `json:"listener_acked,omitempty"`
	RouteSent     string `json:"route_sent,omitempty"`
	RouteAcked    string `json:"route_acked,omitempty"`
	EndpointSent  string `json:"endpoint_sent,omitempty"`
	EndpointAcked string `json:"endpoint_acked,omitempty"`
}

func (h *Handler) syncz(w http.ResponseWriter, _ *http.Request) {
	out := []SyncStatus{}
	for _, c := range h.server.Connections() {
		p := c.CurrentProxy()
		ws := c.Watched()
		st := SyncStatus{ClusterID: p.ClusterID(), ProxyID: p.ID, ProxyType: string(p.Type)}
		if p.Metadata != nil {
			st.IstioVersion = p.Metadata.IstioVersion
		}
		pick := func(t string) (string, string) { x := ws[t]; return x.NonceSent, x.NonceAcked }
		st.ClusterSent, st.ClusterAcked = pick(xds.ClusterType)
		st.ListenerSent, st.ListenerAcked = pick(xds.ListenerType)
		st.RouteSent, st.RouteAcked = pick(xds.RouteType)
		st.EndpointSent, st.EndpointAcked = pick(xds.EndpointType)
		out = append(out, st)
	}
	writeJSON(w, out)
}

type connectionInfo struct {
	ConnectionID string                `json:"connectionId"`
	ProxyID      string                `json:"proxyId"`
	Peer         string                `json:"address"`
	ConnectedAt  time.Time             `json:"connectedAt"`
	Delta        bool                  `json:"delta"`
	Labels       map[string]string     `json:"labels,omitempty"`
	Watched      map[string]watchedOut `json:"watches"`
}

type watchedOut struct {
	Names      []string  `json:"names,omitempty"`
	Wildcard   bool      `json:"wildcard,omitempty"`
	NonceSent  string    `json:"nonceSent,omitempty"`
	NonceAcked string    `json:"nonceAcked,omitempty"`
	Status     string    `json:"status"`
	LastNACK   string    `json:"lastNack,omitempty"`
	LastSent   time.Time `json:"lastSent"`
}

func (h *Handler) connectionInfos() []connectionInfo {
	out := []connectionInfo{}
	for _, c := range h.server.Connections() {
		ci := connectionInfo{ConnectionID: c.ID, ProxyID: c.CurrentProxy().ID, Peer: c.Peer, ConnectedAt: c.ConnectedAt,
			Delta: c.Delta, Labels: c.CurrentProxy().Labels, Watched: map[string]watchedOut{}}
		for t, wt := range c.Watched() {
			ci.Watched[xds.ShortName(t)] = watchedOut{Names: wt.Names, Wildcard: wt.Wildcard, NonceSent: wt.NonceSent,
				NonceAcked: wt.NonceAcked, Status: xds.SyncStatus(wt).String(), LastNACK: wt.LastNACK, LastSent: wt.LastSent}
		}
		out = append(out, ci)
	}
	return out
}

func (h *Handler) adsz(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("push") == "true" {
		h.server.ConfigUpdate(&model.PushRequest{Full: true, Forced: true, Reason: map[model.TriggerReason]int{model.DebugTrigger: 1}})
	}
	writeJSON(w, map[string]any{"totalClients": len(h.server.Connections()), "clients": h.connectionInfos()})
}

func (h *Handler) connections(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, h.connectionInfos())
}

// connection finds a connection by connection id or proxy id.
func (h *Handler) connection(id string) *xds.Connection {
	for _, c := range h.server.Connections() {
		if c.ID == id || c.CurrentProxy().ID == id {
			return c
		}
	}
	return nil
}

func (h *Handler) configDump(w http.ResponseWriter, r *http.Request) {
	c := h.connection(r.URL.Query().Get("proxyID"))
	if c == nil || h.ConfigDump == nil {
		http.Error(w, fmt.Sprintf("proxy %q not connected", r.URL.Query().Get("proxyID")), http.StatusNotFound)
		return
	}
	dump, err := h.ConfigDump(c.CurrentProxy(), h.server.PushContext())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(dump)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

type configOut struct {
	Kind      string          `json:"kind"`
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name"`
	Source    string          `json:"source,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
}

func (h *Handler) configz(w http.ResponseWriter, _ *http.Request) {
	keys := h.configs.Keys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	out := []configOut{}
	for _, k := range keys {
		c := h.configs.Get(k)
		if c == nil {
			continue
		}
		co := configOut{Kind: k.Kind.String(), Namespace: k.Namespace, Name: k.Name, Source: c.Source}
		if m, ok := c.Spec.(proto.Message); ok {
			co.Spec, _ = protojson.Marshal(m)
		} else {
			co.Spec, _ = json.Marshal(c.Spec)
		}
		out = append(out, co)
	}
	writeJSON(w, out)
}

type serviceOut struct {
	Hostname   string   `json:"hostname"`
	Namespace  string   `json:"namespace"`
	Name       string   `json:"name"`
	Registry   string   `json:"registry"`
	Addresses  []string `json:"addresses,omitempty"`
	Ports      []string `json:"ports"`
	Resolution int      `json:"resolution"`
	External   bool     `json:"meshExternal,omitempty"`
}

func (h *Handler) registryz(w http.ResponseWriter, _ *http.Request) {
	out := []serviceOut{}
	for _, s := range h.server.PushContext().Services() {
		so := serviceOut{Hostname: string(s.Hostname), Namespace: s.Namespace, Name: s.Name, Registry: string(s.Registry),
			Addresses: s.Addresses, Resolution: int(s.Resolution), External: s.MeshExternal}
		for _, p := range s.Ports {
			so.Ports = append(so.Ports, fmt.Sprintf("%s/%d/%s", p.Name, p.Port, p.Protocol))
		}
		out = append(out, so)
	}
	writeJSON(w, out)
}

func (h *Handler) pushStatus(w http.ResponseWriter, _ *http.Request) {
	pc := h.server.PushContext()
	var errs []string
	for _, e := range pc.Errors {
		errs = append(errs, e.Error())
	}
	writeJSON(w, map[string]any{"services": len(pc.Services()), "errors": errs})
}

func (h *Handler) sidecarz(w http.ResponseWriter, r *http.Request) {
	c := h.connection(r.URL.Query().Get("proxyID"))
	if c == nil {
		http.Error(w, "proxy not connected", http.StatusNotFound)
		return
	}
	sc := c.CurrentProxy().SidecarScope
	if sc == nil {
		writeJSON(w, nil)
		return
	}
	var hosts []string
	for _, s := range sc.Services() {
		hosts = append(hosts, fmt.Sprintf("%s/%s", s.Namespace, s.Hostname))
	}
	writeJSON(w, map[string]any{"name": sc.Name, "namespace": sc.Namespace, "services": hosts,
		"egressListeners": len(sc.EgressListeners), "outboundTrafficPolicy": sc.OutboundTrafficPolicy.GetMode().String()})
}

func (h *Handler) mesh(w http.ResponseWriter, _ *http.Request) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h.server.Mesh())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
