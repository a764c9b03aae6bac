package model

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// podIndex indexes the stored Pods by name and by IP. The store keeps it up to date on
// every write, so that a PushContext takes two maps instead of indexing every pod again.
// The maps are copied on write: a PushContext holds them as they were (shared), and the
// first write after copies them, so builds between pod changes copy nothing and each
// change costs at most one copy per build, as a copy per build did.
type podIndex struct {
	byName map[podKey]*corev1.Pod
	byIP   map[string]*corev1.Pod
	// claims counts the pods claiming each IP. Running pods' IPs are unique; while two
	// claim one (a pod replaced by another on the same IP), the newest wins.
	claims map[string]int
	// shared: a snapshot holds byName and byIP.
	shared bool
}

func newPodIndex() podIndex {
	return podIndex{byName: map[podKey]*corev1.Pod{}, byIP: map[string]*corev1.Pod{}, claims: map[string]int{}}
}

// own copies the maps a snapshot holds before they are written.
func (pi *podIndex) own() {
	if pi.shared {
		pi.byName, pi.byIP, pi.shared = maps.Clone(pi.byName), maps.Clone(pi.byIP), false
	}
}

func (pi *podIndex) add(k podKey, pod *corev1.Pod) {
	pi.own()
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
	pi.own()
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

// podSnapshot returns the pod indexes, by IP and by name, as they are: they must not be
// modified, and later writes do not reach them.
func (s *Store) podSnapshot() (map[string]*corev1.Pod, map[podKey]*corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods.shared = true
	return s.pods.byIP, s.pods.byName
}
