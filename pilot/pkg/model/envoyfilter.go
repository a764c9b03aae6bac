package model

import (
	"maps"
	"sort"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// envoyFilterIndex holds the compiled EnvoyFilters of each namespace, in istiod's order
// (priority, age, name). It is built from EnvoyFilter objects only, never altered once
// built, and shared between PushContexts; a derived index re-compiles only the objects
// that changed.
type envoyFilterIndex struct {
	byNamespace map[string][]*envoyfilter.Filter
	// errors are the compile errors of every filter, by namespace then filter order.
	errors []error
}

// compileEnvoyFilter is the EnvoyFilter compiler (see Store): patch values are decoded
// into typed Envoy messages once, when the object is stored.
func compileEnvoyFilter(c *config.Config, _ compileContext) any { return envoyfilter.Compile(c) }

// compiledFilter returns the compiled form of EnvoyFilter c.
func compiledFilter(store *Store, c *config.Config) *envoyfilter.Filter {
	return store.compiledFor(c, store.ctx).(*envoyfilter.Filter)
}

func buildEnvoyFilterIndex(store *Store) *envoyFilterIndex {
	idx := &envoyFilterIndex{byNamespace: map[string][]*envoyfilter.Filter{}}
	for _, c := range store.List(schema.EnvoyFilter, "") {
		idx.byNamespace[c.Namespace] = append(idx.byNamespace[c.Namespace], compiledFilter(store, c))
	}
	for _, fs := range idx.byNamespace {
		envoyfilter.SortFilters(fs)
	}
	idx.collectErrors()
	return idx
}

// derive returns the index after the changes: namespaces with a changed EnvoyFilter are
// listed again, reusing the compiled filters whose object is unchanged; the other
// namespaces are shared with idx.
func (idx *envoyFilterIndex) derive(store *Store, changed map[config.Key]struct{}) *envoyFilterIndex {
	namespaces := map[string]bool{}
	for k := range changed {
		if k.Kind == schema.EnvoyFilter {
			namespaces[k.Namespace] = true
		}
	}
	if len(namespaces) == 0 {
		return idx
	}
	next := &envoyFilterIndex{byNamespace: maps.Clone(idx.byNamespace)}
	for ns := range namespaces {
		prev := map[config.Key]*envoyfilter.Filter{}
		for _, f := range idx.byNamespace[ns] {
			prev[f.Key] = f
		}
		var fs []*envoyfilter.Filter
		for _, c := range store.List(schema.EnvoyFilter, ns) {
			if f := prev[c.Key()]; f != nil && f.Source() == c {
				fs = append(fs, f)
			} else {
				fs = append(fs, compiledFilter(store, c))
			}
		}
		if len(fs) == 0 {
			delete(next.byNamespace, ns)
			continue
		}
		envoyfilter.SortFilters(fs)
		next.byNamespace[ns] = fs
	}
	next.collectErrors()
	return next
}

func (idx *envoyFilterIndex) collectErrors() {
	nss := make([]string, 0, len(idx.byNamespace))
	for ns := range idx.byNamespace {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	idx.errors = nil
	for _, ns := range nss {
		for _, f := range idx.byNamespace[ns] {
			idx.errors = append(idx.errors, f.Errors...)
		}
	}
}

// EnvoyFilters returns the EnvoyFilter patches that apply to proxy p (see
// envoyfilter.Select): the root namespace's and the proxy namespace's filters that select
// its workload, in the order they apply. It returns nil when none does.
func (pc *PushContext) EnvoyFilters(p *Proxy) *envoyfilter.Patches {
	if p == nil || pc.envoyFilters == nil || len(pc.envoyFilters.byNamespace) == 0 {
		return nil
	}
	root := pc.RootNamespace()
	ep := envoyfilter.Proxy{Namespace: p.ConfigNamespace, Labels: p.Labels}
	if p.Metadata != nil {
		ep.IstioVersion, ep.Metadata = p.Metadata.IstioVersion, p.Metadata.Raw
	}
	return envoyfilter.Select(ep, root, pc.envoyFilters.byNamespace[root], pc.envoyFilters.byNamespace[p.ConfigNamespace])
}
