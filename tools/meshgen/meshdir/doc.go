// Package meshdir renders configuration objects as a config directory: YAML manifests,
// one file per kind and namespace, "---"-separated, in the form Kubernetes and Istio tooling write them.
// Such a directory is what Sextant's --configDir and the upstream oracle (-case DIR) read.
//
// A Dir remembers what it wrote, so that a load driver can edit one object and rewrite its
// file atomically, the way a config change reaches a watching control plane. The package
// also holds the small mesh-shaping additions a load test needs on top of pkg/meshgen
// (namespace-isolating Sidecars, the proxy.yaml of a client pod).
//
// It must not import the control plane's model or xds packages: it only writes files.
package meshdir
