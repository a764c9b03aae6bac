// Package file is the config-directory source: it reads a directory of YAML manifests
// (any mix of Istio and Kubernetes kinds, "---"-separated) into configs, reporting every
// document it cannot use with its file, document index, kind, namespace/name and field,
// and keeping everything else.
//
// LoadDir reads a directory once. Source keeps a model.Store in line with one: it loads
// the whole directory at start, then re-reads only the files that file events name,
// remembering what each file defined and which files define each key, so that an edit
// costs one file's parse. When events cannot be tied to files (lost events, the directory
// itself replaced, a Kubernetes volume's "..data" swap) it re-reads everything. Both paths
// leave the store as LoadDir reads the directory: a key defined more than once is its last
// definition in file-name, then document, order.
//
// The package writes to the Store and reports changed keys; it never imports the xDS
// server or the generators.
package file
