package model

import (
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// Store holds the current configuration objects of every kind, keyed by config.Key. It is
// safe for concurrent use. Objects handed to it must not be altered afterwards; readers get
// the same pointers and must not alter them either.
//
// Objects of the kinds that have a compiler (EnvoyFilters, ServiceEntries,
// VirtualServices, DestinationRules) are compiled when they are stored, on the writer's
// goroutine - a reconciler or the config-directory watcher - rather than when a
// PushContext is built, and the pod index is kept up to date on every Pod write: a
// PushContext only indexes what was compiled and copies the pod index, as istiod's
// registries convert ServiceEntries and cache pods on events.
type Store struct {
	mu      sync.RWMutex
	objects map[config.Kind]map[config.Key]*config.Config
	// sorted caches each kind's listing in SortConfigs order until the kind is written.
	sorted map[config.Kind][]*config.Config
	// compiled holds what each stored object's compiler made of it.
	compiled map[*config.Config]any
	ctx      compileContext
	// pods indexes the stored Pods (see podIndex).
	pods podIndex
}

// compileContext is what compilers read besides the object: the local cluster, the trust
// domain endpoints' identities are in and the domain short names resolve in. A
// PushContext built with others compiles the objects again (see Store.compiledFor).
type compileContext struct {
	clusterID    string
	trustDomain  string
	domainSuffix string
}

// contextFor is the compile context of a PushContext built with opts in trustDomain.
func contextFor(opts Options, trustDomain string) compileContext {
	if trustDomain == "" {
		trustDomain = "cluster.local"
	}
	return compileContext{clusterID: opts.ClusterID, trustDomain: trustDomain, domainSuffix: opts.DomainSuffix}
}

// compileContext is the context pc compiles objects in.
func (pc *PushContext) compileContext() compileContext {
	return contextFor(pc.Options, pc.TrustDomain())
}

// compilers compile one object of their kind; the result must depend only on the object
// and the context.
var compilers = map[config.Kind]func(*config.Config, compileContext) any{
	schema.EnvoyFilter:     compileEnvoyFilter,
	schema.ServiceEntry:    compileServiceEntry,
	schema.VirtualService:  compileVirtualService,
	schema.DestinationRule: compileDestinationRule,
}

// NewStore returns an empty Store compiling for istiod's default cluster ID and trust
// domain.
func NewStore() *Store {
	return NewStoreFor(DefaultOptions(), "")
}

// NewStoreFor returns an empty Store compiling objects for the cluster of opts and the
// trust domain ("" for cluster.local).
func NewStoreFor(opts Options, trustDomain string) *Store {
	return &Store{
		objects:  map[config.Kind]map[config.Key]*config.Config{},
		sorted:   map[config.Kind][]*config.Config{},
		compiled: map[*config.Config]any{},
		ctx:      contextFor(opts, trustDomain),
		pods:     newPodIndex(),
	}
}

// Set adds or replaces c and reports whether anything changed (a different object).
func (s *Store) Set(c *config.Config) bool {
	var compiled any
	if compile := compilers[c.Kind]; compile != nil {
		compiled = compile(c, s.ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.objects[c.Kind]
	if m == nil {
		m = map[config.Key]*config.Config{}
		s.objects[c.Kind] = m
	}
	k := c.Key()
	old, ok := m[k]
	if ok && old == c {
		return false
	}
	if ok {
		delete(s.compiled, old)
	}
	if compiled != nil {
		s.compiled[c] = compiled
	}
	if pod, isPod := c.Spec.(*corev1.Pod); isPod && c.Kind == schema.Pod {
		s.pods.remove(podKey{k.Namespace, k.Name})
		s.pods.add(podKey{k.Namespace, k.Name}, pod)
	}
	m[k] = c
	delete(s.sorted, c.Kind)
	return true
}

// Delete removes the object with key k and reports whether it existed.
func (s *Store) Delete(k config.Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.objects[k.Kind]
	old, ok := m[k]
	if !ok {
		return false
	}
	delete(m, k)
	delete(s.compiled, old)
	delete(s.sorted, k.Kind)
	if k.Kind == schema.Pod {
		s.pods.remove(podKey{k.Namespace, k.Name})
	}
	return true
}

// Get returns the object with key k, or nil.
func (s *Store) Get(k config.Key) *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objects[k.Kind][k]
}

// compiledFor returns what c's compiler made of c for ctx: the result kept when c was
// stored, or (for another context, or an object no longer stored) a fresh compilation.
func (s *Store) compiledFor(c *config.Config, ctx compileContext) any {
	if ctx == s.ctx {
		s.mu.RLock()
		v, ok := s.compiled[c]
		s.mu.RUnlock()
		if ok {
			return v
		}
	}
	return compilers[c.Kind](c, ctx)
}

// compiledAll is compiledFor of each of cs, taking the store's lock once.
func (s *Store) compiledAll(cs []*config.Config, ctx compileContext) []any {
	out := make([]any, len(cs))
	if ctx == s.ctx {
		s.mu.RLock()
		for i, c := range cs {
			out[i] = s.compiled[c]
		}
		s.mu.RUnlock()
	}
	for i, c := range cs {
		if out[i] == nil {
			out[i] = compilers[c.Kind](c, ctx)
		}
	}
	return out
}

// List returns the objects of kind k in namespace ns ("" for all), in SortConfigs order,
// so that everything derived from a listing is deterministic. The caller may reorder or
// append to the returned slice but not alter the objects.
func (s *Store) List(k config.Kind, ns string) []*config.Config {
	all := s.sortedList(k)
	out := make([]*config.Config, 0, len(all))
	for _, c := range all {
		if ns == "" || c.Namespace == ns {
			out = append(out, c)
		}
	}
	return out
}

// sortedList returns the kind's objects in SortConfigs order, sorting them once per write
// to the kind. The slice is shared: callers must not alter it.
func (s *Store) sortedList(k config.Kind) []*config.Config {
	s.mu.RLock()
	all, ok := s.sorted[k]
	s.mu.RUnlock()
	if ok {
		return all
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if all, ok := s.sorted[k]; ok {
		return all
	}
	all = make([]*config.Config, 0, len(s.objects[k]))
	for _, c := range s.objects[k] {
		all = append(all, c)
	}
	SortConfigs(all)
	s.sorted[k] = all
	return all
}

// Keys returns the keys of every object in the store.
func (s *Store) Keys() []config.Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []config.Key
	for _, m := range s.objects {
		for k := range m {
			out = append(out, k)
		}
	}
	return out
}

// SortConfigs orders configs as istiod does where order decides precedence: oldest first,
// then by name, then by namespace.
func SortConfigs(cs []*config.Config) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
			return a.CreationTimestamp.Before(b.CreationTimestamp)
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Namespace < b.Namespace
	})
}
