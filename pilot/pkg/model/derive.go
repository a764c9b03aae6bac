package model

import (
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"sync"
)

// index names one of the PushContext's indexes, as a bit.
type index uint8

const (
	workloadsIndex index = 1 << iota
	servicesIndex        // services and endpoints
	virtualServicesIndex
	destinationRulesIndex
	sidecarsIndex
	authnIndexBit
	envoyFiltersIndex

	allIndexes = workloadsIndex | servicesIndex | virtualServicesIndex | destinationRulesIndex | sidecarsIndex | authnIndexBit |
		envoyFiltersIndex
)

// readers maps each kind to the indexes built from it. Services and endpoints also read
// the workload index (pods give endpoints their labels, identity and locality), so a
// workload change re-indexes them too.
var readers = map[config.Kind]index{
	schema.Pod:                workloadsIndex | servicesIndex,
	schema.Node:               workloadsIndex | servicesIndex,
	schema.Namespace:          workloadsIndex | servicesIndex,
	schema.Service:            servicesIndex,
	schema.EndpointSlice:      servicesIndex,
	schema.ServiceEntry:       servicesIndex,
	schema.WorkloadEntry:      servicesIndex,
	schema.VirtualService:     virtualServicesIndex,
	schema.DestinationRule:    destinationRulesIndex,
	schema.Sidecar:            sidecarsIndex,
	schema.PeerAuthentication: authnIndexBit,
	schema.EnvoyFilter:        envoyFiltersIndex,
}

// affectedIndexes returns the indexes that read any of the changed kinds.
func affectedIndexes(changed map[config.Key]struct{}) index {
	var out index
	for k := range changed {
		out |= readers[k.Kind]
	}
	return out
}

// Derive returns the PushContext for store after the changes named by changed: the indexes
// that read a changed kind are rebuilt, every other index is shared with pc (indexes are
// never mutated once built). With no keys - "anything may have changed" - everything is
// rebuilt. The mesh config and options must be pc's; a mesh config change needs
// NewPushContext.
func (pc *PushContext) Derive(store *Store, changed map[config.Key]struct{}) *PushContext {
	which := allIndexes
	if len(changed) > 0 {
		which = affectedIndexes(changed)
	}
	next := &PushContext{
		Mesh: pc.Mesh, Options: pc.Options, exportDefaults: pc.exportDefaults,
		workloads: pc.workloads, services: pc.services, endpoints: pc.endpoints,
		virtualServices: pc.virtualServices, destinationRules: pc.destinationRules,
		sidecars: pc.sidecars, authn: pc.authn, envoyFilters: pc.envoyFilters,
		serviceErrors: pc.serviceErrors, virtualServiceErrors: pc.virtualServiceErrors,
	}
	next.rebuild(store, which, changed)
	next.changes = computeChanges(pc, next, changed, which)
	next.scopes = next.changes.carryScopes(pc.scopes, pc.RootNamespace())
	return next
}

// rebuild builds the selected indexes from store, in dependency order. The service index
// is derived from its previous state for the changed keys when it has one.
func (pc *PushContext) rebuild(store *Store, which index, changed map[config.Key]struct{}) {
	// The workload and service indexes (the bulk of a full build) and the config indexes
	// read nothing of each other: built side by side when both are needed.
	var wg sync.WaitGroup
	if which&(workloadsIndex|servicesIndex) != 0 && which&^(workloadsIndex|servicesIndex) != 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc.rebuildServices(store, which, changed)
		}()
	} else {
		pc.rebuildServices(store, which, changed)
	}
	pc.rebuildConfig(store, which, changed)
	wg.Wait()
	pc.Errors = append(append([]error(nil), pc.serviceErrors...), pc.virtualServiceErrors...)
	pc.Errors = append(pc.Errors, pc.envoyFilters.errors...)
}

// rebuildServices rebuilds the workload and service indexes among which. A build from
// scratch collects the ServiceEntries' services while the workload index is built.
func (pc *PushContext) rebuildServices(store *Store, which index, changed map[config.Key]struct{}) {
	if which&servicesIndex != 0 && (pc.services == nil || len(changed) == 0) {
		pc.serviceErrors = nil
		entries := make(chan []sourced, 1)
		go func() { entries <- collectEntries(store, pc.compileContext()) }()
		if which&workloadsIndex != 0 {
			pc.buildWorkloads(store)
		}
		pc.services, pc.endpoints = buildServices(store, pc.workloads, pc.Options, <-entries)
		return
	}
	if which&workloadsIndex != 0 {
		if pc.workloads != nil && len(changed) > 0 {
			pc.workloads = pc.workloads.derive(store, changed)
		} else {
			pc.buildWorkloads(store)
		}
	}
	if which&servicesIndex != 0 {
		pc.serviceErrors = nil
		pc.services, pc.endpoints = pc.services.derive(store, pc.workloads, pc.Options, changed, pc.endpoints)
	}
}

func (pc *PushContext) buildWorkloads(store *Store) {
	pc.workloads = buildWorkloadIndex(store, pc.Options)
	pc.workloads.trustDomain = pc.TrustDomain()
}

// rebuildConfig rebuilds the config indexes among which: VirtualServices,
// DestinationRules, Sidecars, authentication policies and EnvoyFilters.
func (pc *PushContext) rebuildConfig(store *Store, which index, changed map[config.Key]struct{}) {
	root := pc.Mesh.GetRootNamespace()
	if which&virtualServicesIndex != 0 {
		pc.virtualServiceErrors = nil
		pc.virtualServices = buildVirtualServiceIndex(store, pc, &pc.virtualServiceErrors)
	}
	if which&destinationRulesIndex != 0 {
		if pc.destinationRules != nil && len(changed) > 0 {
			pc.destinationRules = pc.destinationRules.derive(store, pc, changed)
		} else {
			pc.destinationRules = buildDestinationRuleIndex(store, pc, nil)
		}
	}
	if which&sidecarsIndex != 0 {
		pc.sidecars = buildSidecarIndex(store, root)
	}
	if which&authnIndexBit != 0 {
		pc.authn = buildAuthnIndex(store, root)
	}
	if which&envoyFiltersIndex != 0 {
		if pc.envoyFilters != nil && len(changed) > 0 {
			pc.envoyFilters = pc.envoyFilters.derive(store, changed)
		} else {
			pc.envoyFilters = buildEnvoyFilterIndex(store)
		}
	}
}
