package load

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

// ChangeKind names an edit the driver applies to the config directory.
type ChangeKind string

// The changes the driver knows.
const (
	// VirtualServiceEdit sets a request header on a VirtualService's default route: the
	// proxies that import the host get new routes (RDS).
	VirtualServiceEdit ChangeKind = "vs"
	// DestinationRuleEdit changes a DestinationRule's http1MaxPendingRequests: new
	// circuit breakers on the host's clusters (CDS).
	DestinationRuleEdit ChangeKind = "dr"
	// EndpointSliceEdit adds one ready endpoint (a fresh address each time) to a service's
	// EndpointSlice: an endpoint-only change (EDS). Not for -server istiod: the oracle
	// reads Kubernetes objects once.
	EndpointSliceEdit ChangeKind = "eds"
	// ServiceEntryEndpointEdit adds one inline endpoint (a fresh address each time) to a
	// STATIC ServiceEntry: an endpoint-only change (EDS) for Sextant and istiod alike
	// (istiod pushes EDS when only a ServiceEntry's endpoints change). Needs a mesh with
	// ServiceEntryServices.
	ServiceEntryEndpointEdit ChangeKind = "se-eds"
)

// ParseChangeKind checks a change kind's name.
func ParseChangeKind(s string) (ChangeKind, error) {
	switch k := ChangeKind(s); k {
	case VirtualServiceEdit, DestinationRuleEdit, EndpointSliceEdit, ServiceEntryEndpointEdit:
		return k, nil
	}
	return "", fmt.Errorf("unknown change %q (want vs, dr, eds or se-eds)", s)
}

// EndpointOnly reports whether k changes nothing but endpoints: only EDS may be sent.
func (k ChangeKind) EndpointOnly() bool {
	return k == EndpointSliceEdit || k == ServiceEntryEndpointEdit
}

// change is one edit: the object to write, the host it changes (a service of the
// object's namespace; who imports it is affected), and what reflects it.
type change struct {
	obj  *config.Config
	host string
	exp  *Expectation
}

// planner makes successive changes to fixed objects of one namespace; each change is
// distinguishable from the previous one.
type planner struct {
	dir *meshdir.Dir
	ns  string
	seq int
	// slice is the EndpointSlice as generated; each edit adds one endpoint to it (so the
	// previous edit's endpoint goes).
	slice *config.Config
	// se is the ServiceEntry as last edited; each edit adds one more endpoint.
	se *config.Config
}

func newPlanner(dir *meshdir.Dir, ns string) *planner { return &planner{dir: dir, ns: ns} }

// first returns the first object of kind k in the planner's namespace.
func (p *planner) first(k config.Kind) (*config.Config, error) {
	for _, key := range p.dir.Keys(k) {
		if key.Namespace == p.ns {
			return p.dir.Get(key), nil
		}
	}
	return nil, fmt.Errorf("no %s in namespace %s to edit", k.Kind, p.ns)
}

func (p *planner) next(kind ChangeKind) (*change, error) {
	p.seq++
	switch kind {
	case VirtualServiceEdit:
		return p.virtualService()
	case DestinationRuleEdit:
		return p.destinationRule()
	case EndpointSliceEdit:
		return p.endpointSlice()
	case ServiceEntryEndpointEdit:
		return p.serviceEntryEndpoints()
	}
	return nil, fmt.Errorf("unknown change %q", kind)
}

func (p *planner) virtualService() (*change, error) {
	c, err := p.first(schema.VirtualService)
	if err != nil {
		return nil, err
	}
	vs := proto.Clone(c.Spec.(proto.Message)).(*networkingv1alpha3.VirtualService)
	if len(vs.Http) == 0 {
		return nil, fmt.Errorf("%s has no http route to edit", c)
	}
	token := fmt.Sprintf("sxload-vs-%06d", p.seq)
	vs.Http[len(vs.Http)-1].Headers = &networkingv1alpha3.Headers{
		Request: &networkingv1alpha3.Headers_HeaderOperations{Set: map[string]string{"x-sxload": token}},
	}
	if len(vs.Hosts) == 0 {
		return nil, fmt.Errorf("%s has no host", c)
	}
	return &change{obj: edited(c, vs), host: vs.Hosts[0], exp: &Expectation{TypeURL: RouteType, Match: containsToken(token)}}, nil
}

func (p *planner) destinationRule() (*change, error) {
	c, err := p.first(schema.DestinationRule)
	if err != nil {
		return nil, err
	}
	dr := proto.Clone(c.Spec.(proto.Message)).(*networkingv1alpha3.DestinationRule)
	if dr.TrafficPolicy == nil {
		dr.TrafficPolicy = &networkingv1alpha3.TrafficPolicy{}
	}
	if dr.TrafficPolicy.ConnectionPool == nil {
		dr.TrafficPolicy.ConnectionPool = &networkingv1alpha3.ConnectionPoolSettings{}
	}
	if dr.TrafficPolicy.ConnectionPool.Http == nil {
		dr.TrafficPolicy.ConnectionPool.Http = &networkingv1alpha3.ConnectionPoolSettings_HTTPSettings{}
	}
	want := uint32(1000 + p.seq)
	dr.TrafficPolicy.ConnectionPool.Http.Http1MaxPendingRequests = int32(want)
	return &change{obj: edited(c, dr), host: dr.Host, exp: &Expectation{
		TypeURL: ClusterType,
		Name:    "outbound|8080||" + dr.Host,
		Match:   func(b []byte) bool { return maxPendingRequests(b) == want },
	}}, nil
}

// maxPendingRequests reads a serialized cluster's default-priority max_pending_requests.
func maxPendingRequests(b []byte) uint32 {
	cl := &clusterv3.Cluster{}
	if err := proto.Unmarshal(b, cl); err != nil {
		return 0
	}
	for _, t := range cl.GetCircuitBreakers().GetThresholds() {
		if t.GetPriority() == 0 && t.GetMaxPendingRequests() != nil {
			return t.GetMaxPendingRequests().GetValue()
		}
	}
	return 0
}

func (p *planner) endpointSlice() (*change, error) {
	if p.slice == nil {
		c, err := p.first(schema.EndpointSlice)
		if err != nil {
			return nil, err
		}
		p.slice = c
	}
	es := p.slice.Spec.(*discoveryv1.EndpointSlice).DeepCopy()
	addr := p.freshAddress()
	ready := true
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	host := es.Labels["kubernetes.io/service-name"] + "." + es.Namespace + ".svc.cluster.local"
	return &change{obj: edited(p.slice, es), host: host, exp: &Expectation{
		TypeURL: EndpointType,
		Name:    "outbound|8080||" + host,
		Match:   containsToken(addr),
	}}, nil
}

// freshAddress is an endpoint address no object of the mesh has: 12.0.0.0/8 is unused by
// the generated mesh (services 10/8, pods 11/8). Nothing ever connects to it.
func (p *planner) freshAddress() string {
	return fmt.Sprintf("12.%d.%d.%d", (p.seq>>16)&0xff, (p.seq>>8)&0xff, p.seq&0xff)
}

// serviceEntryEndpoints adds an inline endpoint to the first STATIC ServiceEntry of the
// namespace, labelled as its first endpoint (so it joins the same subsets).
func (p *planner) serviceEntryEndpoints() (*change, error) {
	if p.se == nil {
		for _, key := range p.dir.Keys(schema.ServiceEntry) {
			c := p.dir.Get(key)
			se := c.Spec.(*networkingv1alpha3.ServiceEntry)
			if key.Namespace == p.ns && se.Resolution == networkingv1alpha3.ServiceEntry_STATIC && len(se.Hosts) > 0 && len(se.Ports) > 0 {
				p.se = c
				break
			}
		}
		if p.se == nil {
			return nil, fmt.Errorf("no STATIC ServiceEntry in namespace %s to edit (se-eds needs ServiceEntryServices)", p.ns)
		}
	}
	se := proto.Clone(p.se.Spec.(proto.Message)).(*networkingv1alpha3.ServiceEntry)
	addr := p.freshAddress()
	we := &networkingv1alpha3.WorkloadEntry{Address: addr}
	if len(se.Endpoints) > 0 {
		we.Labels, we.ServiceAccount = se.Endpoints[0].Labels, se.Endpoints[0].ServiceAccount
	}
	se.Endpoints = append(se.Endpoints, we)
	p.se = edited(p.se, se)
	host := se.Hosts[0]
	return &change{obj: p.se, host: host, exp: &Expectation{
		TypeURL: EndpointType,
		Name:    fmt.Sprintf("outbound|%d||%s", se.Ports[0].Number, host),
		Match:   containsToken(addr),
	}}, nil
}

func edited(c *config.Config, spec any) *config.Config {
	out := *c
	out.Spec = spec
	return &out
}
