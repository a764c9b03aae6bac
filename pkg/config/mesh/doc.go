// Package mesh loads MeshConfig (istio.io/api mesh/v1alpha1) the way istiod does: a YAML
// document applied over istiod's built-in defaults, where every field overrides except
// defaultConfig (ProxyConfig) and defaultProviders, which are merged, and
// extensionProviders, which are merged by name.
package mesh
