package kube

import (
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// scope is a cache objects are read from: the cache of one namespace, the cluster-wide
// cache of every namespace, or the manager's cache for cluster-scoped kinds.
type scope struct {
	// namespace is the namespace served, "" for every namespace (or cluster-scoped kinds).
	namespace string
	reader    client.Reader
	// stop stops the cache; nil when the manager owns it.
	stop func()
}

// state is what reconcilers share: which scope serves each namespace, the objects the
// source has put in the Store, and the objects it rejected. One mutex guards all of it, so
// a reconcile that read from a scope cannot write after that scope was retired and its
// namespace's objects dropped.
type state struct {
	store *model.Store

	mu      sync.Mutex
	cluster *scope            // cluster-scoped kinds
	all     *scope            // every namespace, when every namespace is selected
	scopes  map[string]*scope // one per selected namespace otherwise
	// objects are the objects in the Store, by namespace ("" for cluster-scoped).
	objects  map[string]map[config.Key]*config.Config
	problems map[config.Key]Problem
}

func newState(store *model.Store, cluster *scope) *state {
	return &state{
		store:    store,
		cluster:  cluster,
		scopes:   map[string]*scope{},
		objects:  map[string]map[config.Key]*config.Config{},
		problems: map[config.Key]Problem{},
	}
}

// scopeFor returns the scope serving objects of a namespace ("" for cluster-scoped kinds),
// or nil when the namespace is not selected.
func (st *state) scopeFor(namespace string) *scope {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.scopeForLocked(namespace)
}

func (st *state) scopeForLocked(namespace string) *scope {
	switch {
	case namespace == "":
		return st.cluster
	case st.all != nil:
		return st.all
	}
	return st.scopes[namespace]
}

// seen reports whether the object with key k at resourceVersion rv was already handled:
// it is in the Store, or was rejected, at that version.
func (st *state) seen(k config.Key, rv string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if c := st.objects[k.Namespace][k]; c != nil {
		return c.ResourceVersion == rv
	}
	p, ok := st.problems[k]
	return ok && p.ResourceVersion == rv
}

// apply puts c, read from sc, in the Store. It reports whether the mesh sees a change,
// and stale when sc no longer serves c's namespace (nothing was done; read again).
func (st *state) apply(sc *scope, c *config.Config, warnings []string) (changed, stale bool) {
	k := c.Key()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scopeForLocked(k.Namespace) != sc {
		return false, true
	}
	delete(st.problems, k)
	if len(warnings) > 0 {
		st.problems[k] = Problem{Key: k, ResourceVersion: c.ResourceVersion, Warnings: warnings}
	}
	ns := st.objects[k.Namespace]
	if ns == nil {
		ns = map[config.Key]*config.Config{}
		st.objects[k.Namespace] = ns
	}
	old := ns[k]
	ns[k] = c
	// An equal object still replaces the old one, so that the Store shows the current
	// resourceVersion; it is just not reported.
	st.store.Set(c)
	return old == nil || !sameObject(old, c), false
}

// remove takes the object with key k out of the Store: it was deleted, left the
// revision, or its namespace is not selected (sc nil). It reports whether the Store had
// it, and stale when sc no longer serves the namespace.
func (st *state) remove(sc *scope, k config.Key) (changed, stale bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scopeForLocked(k.Namespace) != sc {
		return false, true
	}
	delete(st.problems, k)
	return st.removeLocked(k), false
}

func (st *state) removeLocked(k config.Key) bool {
	ns := st.objects[k.Namespace]
	if _, ok := ns[k]; !ok {
		return false
	}
	delete(ns, k)
	if len(ns) == 0 {
		delete(st.objects, k.Namespace)
	}
	st.store.Delete(k)
	return true
}

// reject records p and takes the object out of the Store, as remove does.
func (st *state) reject(sc *scope, p Problem) (changed, stale bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scopeForLocked(p.Key.Namespace) != sc {
		return false, true
	}
	st.problems[p.Key] = p
	return st.removeLocked(p.Key), false
}

// setScopes replaces the namespace scopes. The objects of namespaces no scope serves any
// more are dropped from the Store; their keys are returned, with the scopes to stop.
func (st *state) setScopes(all *scope, scopes map[string]*scope) (dropped map[config.Key]struct{}, retired []*scope) {
	st.mu.Lock()
	defer st.mu.Unlock()
	keep := map[*scope]bool{all: true}
	for _, sc := range scopes {
		keep[sc] = true
	}
	for _, sc := range append(mapValues(st.scopes), st.all) {
		if sc != nil && !keep[sc] {
			retired = append(retired, sc)
		}
	}
	if scopes == nil {
		scopes = map[string]*scope{}
	}
	st.all, st.scopes = all, scopes
	dropped = map[config.Key]struct{}{}
	for ns, objs := range st.objects {
		if ns == "" || st.scopeForLocked(ns) != nil {
			continue
		}
		for k := range objs {
			st.removeLocked(k)
			dropped[k] = struct{}{}
		}
	}
	for k := range st.problems {
		if k.Namespace != "" && st.scopeForLocked(k.Namespace) == nil {
			delete(st.problems, k)
		}
	}
	return dropped, retired
}

// namespaceScopes returns the current namespace scopes.
func (st *state) namespaceScopes() (all *scope, scopes map[string]*scope) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]*scope, len(st.scopes))
	for ns, sc := range st.scopes {
		out[ns] = sc
	}
	return st.all, out
}

// keys returns the keys of the objects in the Store from namespace ns.
func (st *state) keys(ns string) []config.Key {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]config.Key, 0, len(st.objects[ns]))
	for k := range st.objects[ns] {
		out = append(out, k)
	}
	return out
}

// count returns how many objects the source has in the Store.
func (st *state) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, objs := range st.objects {
		n += len(objs)
	}
	return n
}

// namespacedKeys returns the keys of the namespaced objects in the Store from namespace
// ns, or from every namespace for "".
func (st *state) namespacedKeys(ns string) []config.Key {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []config.Key
	for n, objs := range st.objects {
		if n == "" || (ns != "" && n != ns) {
			continue
		}
		for k := range objs {
			out = append(out, k)
		}
	}
	return out
}

// problemList returns the current problems, sorted by key.
func (st *state) problemList() []Problem {
	st.mu.Lock()
	out := make([]Problem, 0, len(st.problems))
	for _, p := range st.problems {
		out = append(out, p)
	}
	st.mu.Unlock()
	sortProblems(out)
	return out
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
