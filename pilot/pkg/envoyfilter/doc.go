// Package envoyfilter is Sextant's EnvoyFilter controller: it compiles EnvoyFilter objects
// into typed patch sets when they change, and applies those patches to the resources the
// generators build, with istiod 1.31's semantics.
//
// It owns:
//   - Compile: one EnvoyFilter -> a *Filter whose patch values are decoded once into the
//     Envoy proto type their applyTo implies (typed_config resolved through the protobuf
//     registry, which types_gen.go fills with every Envoy API istiod links), whose
//     operations are normalised (INSERT_* becomes ADD where istiod does so) and whose
//     proxy version regexes are compiled. Undecodable patch values become errors naming
//     the object and field; the filter's other patches still apply.
//   - Select: the patches that apply to one proxy, from the root namespace's and the
//     proxy namespace's compiled filters (workloadSelector / targetRefs, proxy version
//     and metadata), in istiod's order (priority, root namespace first, age, name).
//   - Patching: PatchClusters, PatchListeners/PatchListener and PatchRouteConfiguration,
//     called by the generators after they build their resources. Patching never alters
//     the resources it is given nor the compiled patch values; what it changes it copies.
//   - EXTENSION_CONFIG (Patches.ExtensionConfigs, for an ECDS server) and BOOTSTRAP
//     (Patches.Bootstrap): compiled and selected, but Sextant serves neither yet; the
//     bootstrap is istio-agent's.
//
// The model keeps the compiled filters per namespace in its PushContext and re-compiles
// only the EnvoyFilters that changed; generators ask PushContext.EnvoyFilters(proxy).
//
// This package must not import the model or any generator (both import it), nor read
// clients, environment variables, clocks or globals: it is pure functions of its inputs.
//
//go:generate sh -c "./gen_types.sh > types_gen.go"
package envoyfilter
