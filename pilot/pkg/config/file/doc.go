// Package file is the config-directory source: it reads a directory of YAML manifests
// (any mix of Istio and Kubernetes kinds, "---"-separated) into configs, reporting every
// document it cannot use with its file, document index, kind, namespace/name and field,
// and keeping everything else.
package file
