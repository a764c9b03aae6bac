package model

import (
	"iter"
	"maps"

	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// derive returns the workload index after the Pod, Node and Namespace changes named by
// changed, sharing what did not change. Pods are taken from the store's pod index.
func (w *workloadIndex) derive(store *Store, changed map[config.Key]struct{}) *workloadIndex {
	next := *w
	cloned := map[config.Kind]bool{}
	clone := func(k config.Kind) {
		if cloned[k] {
			return
		}
		cloned[k] = true
		switch k {
		case schema.Pod:
			next.podsByIP, next.podsByName = store.podSnapshot()
		case schema.Node:
			next.nodes = maps.Clone(w.nodes)
		case schema.Namespace:
			next.namespaces = maps.Clone(w.namespaces)
		}
	}
	for k := range changed {
		switch k.Kind {
		case schema.Pod:
			clone(schema.Pod)
		case schema.Node:
			clone(schema.Node)
			if c := store.Get(k); c == nil {
				delete(next.nodes, k.Name)
			} else {
				next.nodes[k.Name] = c.Spec.(*corev1.Node)
			}
		case schema.Namespace:
			clone(schema.Namespace)
			if c := store.Get(k); c == nil {
				delete(next.namespaces, k.Name)
			} else {
				next.namespaces[k.Name] = c.Spec.(*corev1.Namespace)
			}
		}
	}
	return &next
}

// podIPs yields the addresses a pod is reachable on as itself: none for host-network
// pods.
func podIPs(pod *corev1.Pod) iter.Seq[string] {
	return func(yield func(string) bool) {
		if pod.Spec.HostNetwork {
			return
		}
		if pod.Status.PodIP != "" && !yield(pod.Status.PodIP) {
			return
		}
		for _, ip := range pod.Status.PodIPs {
			if ip.IP != pod.Status.PodIP && !yield(ip.IP) {
				return
			}
		}
	}
}
