package model

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// serviceIndex holds every service of the mesh, and what each source object (a Kubernetes
// Service, a ServiceEntry) contributed, so that a change re-derives only the services of
// the objects it touches.
type serviceIndex struct {
	// version identifies all (versions.go): derives that share it keep it.
	version uint64
	all     []*Service
	byHost  map[host.Name]hostServices

	// kube and entries are the services (with endpoints) of each Kubernetes Service and
	// each ServiceEntry; sliceOwner maps an EndpointSlice to its Service.
	kube       map[config.Key]sourced
	sliceOwner map[config.Key]config.Key
	// A full build leaves entries to entryMap, which indexes collected (every
	// ServiceEntry's services, in store order) on first use: only derives and a few
	// lookups read them, and indexing 10,000 entries by key was a quarter of a cold build.
	entries     map[config.Key][]sourced
	collected   []sourced
	entriesOnce sync.Once
	// shared marks the service keys that both a Kubernetes Service and a ServiceEntry
	// define: their endpoints are merged.
	shared map[serviceKey]bool
	// hasAliases is true when ExternalName services exist (splice does not track them).
	hasAliases bool

	// changed are the service objects this index added, removed or replaced relative to
	// the one it was derived from (both versions); allChanged is set for a full build.
	// endpointHosts are the hostnames whose endpoints were re-derived.
	changed       []*Service
	allChanged    bool
	endpointHosts map[host.Name]bool

	// byNamespace lists the services of each namespace in all's order, with each
	// service's position in all; built on first use (the index is otherwise immutable,
	// so it is shared with every PushContext sharing the index).
	byNamespaceOnce sync.Once
	byNamespace     map[string][]*Service
	position        map[*Service]int
}

// hostServices are the services with one hostname, at most one per namespace, in
// namespace order (a slice: almost every hostname has one).
type hostServices []*Service

// in returns the service of namespace ns, or nil.
func (hs hostServices) in(ns string) *Service {
	for _, s := range hs {
		if s.Namespace == ns {
			return s
		}
	}
	return nil
}

// first returns the service of the first namespace, or nil.
func (hs hostServices) first() *Service {
	if len(hs) == 0 {
		return nil
	}
	return hs[0]
}

// firstVisible returns the service of the first namespace that exports it to ns, or nil.
func (hs hostServices) firstVisible(pc *PushContext, ns string) *Service {
	for _, s := range hs {
		if pc.IsServiceVisible(s, ns) {
			return s
		}
	}
	return nil
}

// put makes s its namespace's service, in place.
func (hs hostServices) put(s *Service) hostServices {
	i, found := slices.BinarySearchFunc(hs, s.Namespace, func(e *Service, ns string) int { return strings.Compare(e.Namespace, ns) })
	if found {
		hs[i] = s
		return hs
	}
	return slices.Insert(hs, i, s)
}

// inNamespace returns the services defined in namespace ns, in all's order.
func (si *serviceIndex) inNamespace(ns string) []*Service {
	si.indexNamespaces()
	return si.byNamespace[ns]
}

// indexNamespaces builds byNamespace and position once.
func (si *serviceIndex) indexNamespaces() {
	si.byNamespaceOnce.Do(func() {
		si.byNamespace = map[string][]*Service{}
		si.position = make(map[*Service]int, len(si.all))
		for i, s := range si.all {
			si.byNamespace[s.Namespace] = append(si.byNamespace[s.Namespace], s)
			si.position[s] = i
		}
	})
}

// sourced is one service and its endpoints, as its source object (src) defines them.
type sourced struct {
	src *config.Config
	svc *Service
	eps []*Endpoint
}

// endpointIndex holds the endpoints of every service object.
type endpointIndex struct {
	byService map[serviceKey][]*Endpoint
	// accounts memoises PushContext.ServiceAccounts per service object (the index is
	// never altered once built; a change derives a new one).
	accounts sync.Map // *Service -> []string
	// version identifies the index, and log the derives that led to it (versions.go).
	version uint64
	log     []endpointChange
}

// buildServices converts Kubernetes Services + EndpointSlices into services and
// endpoints, from scratch, and indexes them with the ServiceEntries' services (see
// collectEntries).
func buildServices(store *Store, w *workloadIndex, opts Options, entries []sourced) (*serviceIndex, *endpointIndex) {
	kubes := store.List(schema.Service, "")
	si := &serviceIndex{
		version:    nextIndexVersion(),
		kube:       make(map[config.Key]sourced, len(kubes)),
		collected:  entries,
		sliceOwner: map[config.Key]config.Key{},
		allChanged: true,
	}
	si.indexSlices(store, "")
	want := make(map[config.Key]bool, len(kubes))
	for _, c := range kubes {
		want[c.Key()] = false
	}
	slices := si.slicesOf(store, want)
	rs := make([]sourced, 0, len(kubes)+len(entries))
	for _, c := range kubes {
		k := c.Key()
		si.updateKube(store, k, slices(k), w, opts, false)
		if r, ok := si.kube[k]; ok {
			rs = append(rs, r)
		}
	}
	return si, si.assembleFrom(append(rs, entries...))
}

// entryMap returns the services of each ServiceEntry, by object key.
func (si *serviceIndex) entryMap() map[config.Key][]sourced {
	si.entriesOnce.Do(func() {
		if si.entries != nil {
			return // a derived index's, filled as it was derived
		}
		m := make(map[config.Key][]sourced, len(si.collected))
		for i := 0; i < len(si.collected); {
			j := i + 1
			for j < len(si.collected) && si.collected[j].src == si.collected[i].src {
				j++
			}
			m[si.collected[i].src.Key()] = si.collected[i:j:j]
			i = j
		}
		si.entries = m
	})
	return si.entries
}

// collectEntries gathers the services and endpoints of every ServiceEntry as the store
// compiled them for ctx (resolving the WorkloadEntries of those that select them). It
// reads nothing of the workload index, so a full build runs it beside that index's.
func collectEntries(store *Store, ctx compileContext) []sourced {
	cs := store.List(schema.ServiceEntry, "")
	compiled := store.compiledAll(cs, ctx)
	all := make([]sourced, 0, len(cs))
	for i, c := range cs {
		all = append(all, entryServices(store, c, compiled[i].(*compiledEntry), ctx, nil)...)
	}
	return all
}

// derive returns the index after the (non-empty) changes named by changed, sharing
// the services of untouched source objects with si. Pod and Namespace changes re-derive
// the Kubernetes services of their namespace (pods give endpoints their identity and
// labels); Node changes, which move localities, re-derive every Kubernetes service;
// WorkloadEntry changes re-derive their namespace's ServiceEntries.
//
// When only endpoints changed (EndpointSlices, Pods), the services themselves are shared
// and only the endpoints of the affected services are replaced (ei is the previous
// endpoint index).
func (si *serviceIndex) derive(store *Store, w *workloadIndex, opts Options, changed map[config.Key]struct{}, ei *endpointIndex) (*serviceIndex, *endpointIndex) {
	next := &serviceIndex{kube: maps.Clone(si.kube), entries: maps.Clone(si.entryMap()), sliceOwner: maps.Clone(si.sliceOwner),
		shared: si.shared, hasAliases: si.hasAliases, version: nextIndexVersion()}
	// dirtyKube maps each Kubernetes Service to re-derive to whether only its endpoints
	// may have changed.
	dirtyKube, dirtySE := map[config.Key]bool{}, map[config.Key]bool{}
	markEndpoints := func(k config.Key) {
		if _, ok := dirtyKube[k]; !ok {
			dirtyKube[k] = true
		}
	}
	for k := range changed {
		switch k.Kind {
		case schema.Service:
			dirtyKube[k] = false
		case schema.EndpointSlice:
			if owner, ok := next.sliceOwner[k]; ok {
				markEndpoints(owner)
			}
			if owner, ok := next.indexSlice(store.Get(k), k); ok {
				markEndpoints(owner)
			}
		case schema.Pod:
			// Only services with an endpoint on this pod (by name, or by its new IP)
			// change: a pod joins or leaves a service through its EndpointSlices.
			var ip string
			if c := store.Get(k); c != nil {
				ip = c.Spec.(*corev1.Pod).Status.PodIP
			}
			for sk, r := range next.kube {
				if sk.Namespace == k.Namespace && servesPod(r.eps, k.Name, ip) {
					markEndpoints(sk)
				}
			}
		case schema.Namespace, schema.Node:
			// Namespace annotations set endpoint preferences on services; nodes move
			// every endpoint's locality.
			ns := k.Name
			if k.Kind == schema.Node {
				ns = ""
			}
			for _, c := range store.List(schema.Service, ns) {
				dirtyKube[c.Key()] = false
			}
		case schema.ServiceEntry:
			dirtySE[k] = true
		case schema.WorkloadEntry:
			for _, c := range store.List(schema.ServiceEntry, k.Namespace) {
				dirtySE[c.Key()] = true
			}
		}
	}
	servicesChanged := false
	next.endpointHosts = map[host.Name]bool{}
	var endpointKeys []config.Key
	var entryEndpoints []serviceKey
	var removed []*Service
	var added []sourced
	slices := next.slicesOf(store, dirtyKube)
	for k, endpointsOnly := range dirtyKube {
		old, had := si.kube[k]
		if had {
			removed = append(removed, old.svc)
			next.endpointHosts[old.svc.Hostname] = true
		}
		if !next.updateKube(store, k, slices(k), w, opts, endpointsOnly) {
			servicesChanged = true
		}
		r, ok := next.kube[k]
		if ok {
			added = append(added, r)
			next.endpointHosts[r.svc.Hostname] = true
		}
		if !had || !ok || old.svc != r.svc {
			next.changed = append(next.changed, old.svc, r.svc)
		}
		endpointKeys = append(endpointKeys, k)
	}
	for k := range dirtySE {
		olds := si.entryMap()[k]
		next.updateServiceEntry(store, k, store.Get(k), contextFor(opts, w.trustDomain), olds)
		news := next.entries[k]
		for _, r := range olds {
			removed = append(removed, r.svc)
			next.endpointHosts[r.svc.Hostname] = true
		}
		for _, r := range news {
			added = append(added, r)
			next.endpointHosts[r.svc.Hostname] = true
		}
		if sameServices(olds, news) {
			// Only the entry's endpoints changed (its services were kept as they were).
			for _, r := range news {
				entryEndpoints = append(entryEndpoints, serviceKey{r.svc.Hostname, r.svc.Namespace})
			}
			continue
		}
		servicesChanged = true
		for _, r := range olds {
			next.changed = append(next.changed, r.svc)
		}
		for _, r := range news {
			next.changed = append(next.changed, r.svc)
		}
	}
	next.changed = slicesCompact(next.changed)
	switch {
	case !servicesChanged:
		next.all, next.byHost, next.version = si.all, si.byHost, si.version
		return next, next.replaceEntryEndpoints(next.replaceEndpoints(ei, endpointKeys), entryEndpoints)
	case si.hasAliases || touchesAliases(removed, added):
		next.allChanged = true
		return next, next.assemble()
	}
	return next, next.splice(si, ei, removed, added)
}

// sameServices reports whether a ServiceEntry's re-derived services are the ones it had
// (updateServiceEntry keeps the objects of services that did not change).
func sameServices(a, b []sourced) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].svc != b[i].svc {
			return false
		}
	}
	return true
}

// slicesCompact drops nils and duplicates, keeping the first occurrence.
func slicesCompact(ss []*Service) []*Service {
	seen := make(map[*Service]bool, len(ss))
	out := ss[:0]
	for _, s := range ss {
		if s != nil && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// touchesAliases reports whether a change involves ExternalName services, whose alias
// copies the incremental splice does not track.
func touchesAliases(removed []*Service, added []sourced) bool {
	for _, s := range removed {
		if s.Resolution == Alias || len(s.Aliases) > 0 {
			return true
		}
	}
	for _, r := range added {
		if r.svc.Resolution == Alias {
			return true
		}
	}
	return false
}

// splice derives the service list, hostname index and endpoint index from the previous
// ones by taking out the removed services and merging in the added ones, in order, in
// time linear in the number of services and without re-sorting them.
func (si *serviceIndex) splice(prev *serviceIndex, ei *endpointIndex, removed []*Service, added []sourced) *endpointIndex {
	gone := make(map[*Service]bool, len(removed))
	touched := map[serviceKey]bool{}
	for _, s := range removed {
		gone[s] = true
		touched[serviceKey{s.Hostname, s.Namespace}] = true
	}
	fresh := make([]*Service, 0, len(added))
	for _, r := range added {
		fresh = append(fresh, r.svc)
		touched[serviceKey{r.svc.Hostname, r.svc.Namespace}] = true
	}
	sortServices(fresh)
	all := make([]*Service, 0, len(prev.all)-len(removed)+len(fresh))
	i := 0
	for _, s := range prev.all {
		if gone[s] {
			continue
		}
		for i < len(fresh) && serviceLess(fresh[i], s) {
			all = append(all, fresh[i])
			i++
		}
		all = append(all, s)
	}
	si.all = append(all, fresh[i:]...)
	si.hasAliases = false
	// Re-derive the hostname and endpoint entries of the touched keys only.
	si.byHost = maps.Clone(prev.byHost)
	for k := range touched {
		if hs := si.byHost[k.Hostname]; hs != nil {
			hs = slices.DeleteFunc(slices.Clone(hs), func(s *Service) bool { return s.Namespace == k.Namespace })
			si.byHost[k.Hostname] = hs
			if len(hs) == 0 {
				delete(si.byHost, k.Hostname)
			}
		}
	}
	out := ei.successor(slices.Collect(maps.Keys(touched)))
	si.shared = maps.Clone(prev.shared)
	for k := range touched {
		delete(out.byService, k)
		delete(si.shared, k)
	}
	for _, s := range si.all {
		k := serviceKey{s.Hostname, s.Namespace}
		if !touched[k] {
			continue
		}
		// The slices were cloned above (or are new): put may work in place. The last in
		// order wins, as in a full build.
		si.byHost[s.Hostname] = si.byHost[s.Hostname].put(s)
	}
	byKey := map[serviceKey][]*Service{}
	for _, s := range si.all {
		if k := (serviceKey{s.Hostname, s.Namespace}); touched[k] {
			byKey[k] = append(byKey[k], s)
		}
	}
	for k, svcs := range byKey {
		var eps []*Endpoint
		for _, s := range svcs {
			eps = append(eps, si.endpointsOf(s)...)
		}
		if len(svcs) > 1 {
			eps = append([]*Endpoint(nil), eps...)
			sortEndpoints(eps)
			si.shared[k] = true
		}
		out.byService[k] = eps
	}
	return out
}

// endpointsOf returns the endpoints the source of s defined for it.
func (si *serviceIndex) endpointsOf(s *Service) []*Endpoint {
	if s.Registry == Kubernetes {
		return si.kube[s.Source].eps
	}
	for _, r := range si.entryMap()[s.Source] {
		if r.svc == s {
			return r.eps
		}
	}
	return nil
}

// replaceEndpoints returns ei with the endpoints of the given Kubernetes Services
// re-derived; every other entry is shared.
func (si *serviceIndex) replaceEndpoints(ei *endpointIndex, keys []config.Key) *endpointIndex {
	sks := make([]serviceKey, len(keys))
	for i, k := range keys {
		r := si.kube[k]
		sks[i] = serviceKey{r.svc.Hostname, r.svc.Namespace}
	}
	out := ei.successor(sks)
	for i, k := range keys {
		r := si.kube[k]
		sk := sks[i]
		if !si.shared[sk] {
			out.byService[sk] = r.eps
			continue
		}
		merged := append([]*Endpoint(nil), r.eps...)
		for _, rs := range si.entryMap() {
			for _, e := range rs {
				if e.svc.Hostname == sk.Hostname && e.svc.Namespace == sk.Namespace {
					merged = append(merged, e.eps...)
				}
			}
		}
		sortEndpoints(merged)
		out.byService[sk] = merged
	}
	return out
}

// replaceEntryEndpoints returns ei with the endpoints of the given service keys, whose
// ServiceEntries changed only their endpoints, re-derived from every source defining them.
func (si *serviceIndex) replaceEntryEndpoints(ei *endpointIndex, keys []serviceKey) *endpointIndex {
	if len(keys) == 0 {
		return ei
	}
	out := ei.successor(keys)
	for _, sk := range keys {
		var eps []*Endpoint
		for _, s := range si.all {
			if s.Hostname == sk.Hostname && s.Namespace == sk.Namespace {
				eps = append(eps, si.endpointsOf(s)...)
			}
		}
		if si.shared[sk] {
			eps = append([]*Endpoint(nil), eps...)
			sortEndpoints(eps)
		}
		out.byService[sk] = eps
	}
	return out
}

// indexSlices records the owner of every EndpointSlice in ns ("" for all).
func (si *serviceIndex) indexSlices(store *Store, ns string) {
	for _, c := range store.List(schema.EndpointSlice, ns) {
		si.indexSlice(c, c.Key())
	}
}

// indexSlice records (or, for a deleted slice, forgets) a slice's owner.
func (si *serviceIndex) indexSlice(c *config.Config, k config.Key) (config.Key, bool) {
	if c == nil {
		delete(si.sliceOwner, k)
		return config.Key{}, false
	}
	name := c.Spec.(*discoveryv1.EndpointSlice).Labels[labelServiceNameOfSlice]
	if name == "" {
		delete(si.sliceOwner, k)
		return config.Key{}, false
	}
	owner := config.Key{Kind: schema.Service, Namespace: k.Namespace, Name: name}
	si.sliceOwner[k] = owner
	return owner, true
}

// slicesOf returns a lookup of the EndpointSlices owned by each of the given Services,
// listing the store once per namespace involved (or once in all when many services are).
func (si *serviceIndex) slicesOf(store *Store, services map[config.Key]bool) func(config.Key) []*discoveryv1.EndpointSlice {
	byOwner := map[config.Key][]*discoveryv1.EndpointSlice{}
	listed := map[string]bool{}
	add := func(ns string) {
		for _, sc := range store.List(schema.EndpointSlice, ns) {
			if owner, ok := si.sliceOwner[sc.Key()]; ok {
				if _, want := services[owner]; want {
					byOwner[owner] = append(byOwner[owner], sc.Spec.(*discoveryv1.EndpointSlice))
				}
			}
		}
	}
	if len(services) > 64 {
		add("")
	} else {
		for k := range services {
			if !listed[k.Namespace] {
				listed[k.Namespace] = true
				add(k.Namespace)
			}
		}
	}
	return func(k config.Key) []*discoveryv1.EndpointSlice { return byOwner[k] }
}

// updateKube re-derives one Kubernetes Service. With endpointsOnly, an unchanged Service
// object keeps its previous *Service (the service list can then be shared); it reports
// whether it could.
func (si *serviceIndex) updateKube(store *Store, k config.Key, slices []*discoveryv1.EndpointSlice, w *workloadIndex, opts Options, endpointsOnly bool) bool {
	c := store.Get(k)
	prev, had := si.kube[k]
	if c == nil {
		delete(si.kube, k)
		return false
	}
	ks := c.Spec.(*corev1.Service)
	reused := endpointsOnly && had && prev.src == c
	s := prev.svc
	if !reused {
		s = kubeService(c, opts)
		w.setEndpointPreferences(s, ks)
		if had && reflect.DeepEqual(prev.svc, s) {
			// An edit that leaves the service as it was (labels of other kinds, a
			// node or namespace change) keeps the object SidecarScopes hold.
			s, reused = prev.svc, true
		}
	}
	eps := kubeEndpoints(s, ks, slices, w, opts)
	sortEndpoints(eps)
	si.kube[k] = sourced{src: c, svc: s, eps: eps}
	return reused
}

// updateServiceEntry re-derives a ServiceEntry's services and endpoints (see
// entryServices).
func (si *serviceIndex) updateServiceEntry(store *Store, k config.Key, c *config.Config, ctx compileContext, olds []sourced) {
	if c == nil {
		delete(si.entryMap(), k)
		return
	}
	si.entryMap()[k] = entryServices(store, c, store.compiledFor(c, ctx).(*compiledEntry), ctx, olds)
}

// entryServices returns the services and endpoints of ServiceEntry c, compiled as ce. A
// service equal to the one the entry had for the same host (olds) is kept as that object,
// so that an endpoint-only edit leaves the services - and every SidecarScope holding
// them - as they were.
func entryServices(store *Store, c *config.Config, ce *compiledEntry, ctx compileContext, olds []sourced) []sourced {
	out := ce.entries
	if ce.selects {
		se := c.Spec.(*networkingv1alpha3.ServiceEntry)
		wles := store.List(schema.WorkloadEntry, c.Namespace)
		out = make([]sourced, len(ce.entries))
		for i, r := range ce.entries {
			eps := serviceEntryEndpoints(c, se, r.svc, wles, ctx)
			sortEndpoints(eps)
			out[i] = sourced{src: c, svc: r.svc, eps: eps}
		}
	}
	// Keep the service objects that did not change, so that derived contexts see them
	// unchanged (the compiled entries are shared: copy before replacing).
	copied := ce.selects
	for i := range out {
		if i < len(olds) && olds[i].svc != out[i].svc && reflect.DeepEqual(olds[i].svc, out[i].svc) {
			if !copied {
				out, copied = slices.Clone(out), true
			}
			out[i].svc = olds[i].svc
		}
	}
	return out
}

// assemble builds the ordered service list, the hostname index and the endpoint index
// from the per-source results.
func (si *serviceIndex) assemble() *endpointIndex {
	rs := make([]sourced, 0, len(si.kube)+len(si.entryMap()))
	for _, r := range si.kube {
		rs = append(rs, r)
	}
	for _, es := range si.entryMap() {
		rs = append(rs, es...)
	}
	return si.assembleFrom(rs)
}

// assembleFrom is assemble over the per-source results rs, in any order.
func (si *serviceIndex) assembleFrom(rs []sourced) *endpointIndex {
	ei := &endpointIndex{byService: make(map[serviceKey][]*Endpoint, len(rs)), version: nextIndexVersion()}
	all := make([]*Service, 0, len(rs))
	si.shared = map[serviceKey]bool{}
	add := func(r sourced) {
		all = append(all, r.svc)
		k := serviceKey{r.svc.Hostname, r.svc.Namespace}
		if prev, ok := ei.byService[k]; ok {
			merged := append(append([]*Endpoint(nil), prev...), r.eps...)
			sortEndpoints(merged)
			ei.byService[k] = merged
			si.shared[k] = true
		} else {
			ei.byService[k] = r.eps
		}
	}
	for _, r := range rs {
		add(r)
	}
	sortServices(all)
	si.all = resolveAliases(all)
	si.hasAliases = false
	for _, s := range all {
		if s.Resolution == Alias {
			si.hasAliases = true
			break
		}
	}
	si.byHost = make(map[host.Name]hostServices, len(si.all))
	// Almost every hostname has one service: its entry is a one-element window of one
	// shared array (capped, so a second namespace's put copies it out).
	single := make([]*Service, len(si.all))
	for i, s := range si.all {
		if hs, ok := si.byHost[s.Hostname]; ok {
			si.byHost[s.Hostname] = hs.put(s)
			continue
		}
		single[i] = s
		si.byHost[s.Hostname] = single[i : i+1 : i+1]
	}
	return ei
}

// servesPod reports whether any endpoint is the named pod or at its IP.
func servesPod(eps []*Endpoint, name, ip string) bool {
	for _, e := range eps {
		if e.PodName == name || (ip != "" && e.Address == ip) {
			return true
		}
	}
	return false
}
