package model

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// podIndex indexes the stored Pods by name and by IP. The store keeps it up to date on
// every write, so that a PushContext takes a copy of two maps instead of indexing every
// pod again.
type podIndex struct {
	byName map[podKey]*corev1.Pod
	byIP   map[string]*corev1.Pod
	// claims counts the pods claiming each IP. Running pods' IPs are unique; while two
	// claim one (a pod replaced by another on the same IP), the newest wins.
	claims map[string]int
}

func newPodIndex() podIndex {
	return podIndex{byName: map[podKey]*corev1.Pod{}, byIP: map[string]*corev1.Pod{}, claims: map[string]int{}}
}

func (pi *podIndex) add(k podKey, pod *corev1.Pod) {
	pi.byName[k] = pod
	for ip := range podIPs(pod) {
		pi.claims[ip]++
		if cur := pi.byIP[ip]; cur == nil || podOlder(cur, pod) {
			pi.byIP[ip] = pod
		}
	}
}

func (pi *podIndex) remove(k podKey) {
	pod := pi.byName[k]
	if pod == nil {
		return
	}
	delete(pi.byName, k)
	for ip := range podIPs(pod) {
		pi.claims[ip]--
		if pi.claims[ip] <= 0 {
			delete(pi.claims, ip)
			delete(pi.byIP, ip)
			continue
		}
		if pi.byIP[ip] == pod {
			pi.byIP[ip] = pi.newestClaiming(ip)
		}
	}
}

// newestClaiming returns the newest pod with the IP (a scan: only when IPs overlap).
func (pi *podIndex) newestClaiming(ip string) *corev1.Pod {
	var best *corev1.Pod
	for _, p := range pi.byName {
		for pip := range podIPs(p) {
			if pip == ip && (best == nil || podOlder(best, p)) {
				best = p
			}
		}
	}
	return best
}

// podOlder orders pods as SortConfigs orders their objects: by creation, name, namespace.
func podOlder(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Namespace < b.Namespace
}

// podSnapshot returns copies of the pod indexes, by IP and by name.
func (s *Store) podSnapshot() (map[string]*corev1.Pod, map[podKey]*corev1.Pod) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.pods.byIP), maps.Clone(s.pods.byName)
}
