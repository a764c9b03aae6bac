package model

import (
	"iter"
	"maps"

	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// derive returns the workload index after the Pod, Node and Namespace changes named by
// changed, sharing what did not change. (Pod IPs are unique among running pods; should two
// pods claim one IP, the one seen last wins, as in a full build of the same store.)
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
			next.podsByIP, next.podsByName = maps.Clone(w.podsByIP), maps.Clone(w.podsByName)
		case schema.Node:
			next.nodes = maps.Clone(w.nodes)
		case schema.Namespace:
			next.namespaces = maps.Clone(w.namespaces)
		}
	}
	for k := range changed {
		c := store.Get(k)
		switch k.Kind {
		case schema.Pod:
			clone(schema.Pod)
			if old := next.podsByName[podKey{k.Namespace, k.Name}]; old != nil {
				for ip := range podIPs(old) {
					if next.podsByIP[ip] == old {
						delete(next.podsByIP, ip)
					}
				}
				delete(next.podsByName, podKey{k.Namespace, k.Name})
			}
			if c != nil {
				next.addPod(k, c.Spec.(*corev1.Pod))
			}
		case schema.Node:
			clone(schema.Node)
			if c == nil {
				delete(next.nodes, k.Name)
			} else {
				next.nodes[k.Name] = c.Spec.(*corev1.Node)
			}
		case schema.Namespace:
			clone(schema.Namespace)
			if c == nil {
				delete(next.namespaces, k.Name)
			} else {
				next.namespaces[k.Name] = c.Spec.(*corev1.Namespace)
			}
		}
	}
	return &next
}

// addPod indexes a pod by name and by its (non host-network) IPs.
func (w *workloadIndex) addPod(k config.Key, pod *corev1.Pod) {
	w.podsByName[podKey{k.Namespace, k.Name}] = pod
	for ip := range podIPs(pod) {
		w.podsByIP[ip] = pod
	}
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
