package model

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

func podConfig(name, ip string, created time.Time, hostNetwork bool) *config.Config {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{HostNetwork: hostNetwork},
		Status:     corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	return &config.Config{Meta: config.Meta{Kind: schema.Pod, Namespace: "ns", Name: name, CreationTimestamp: created}, Spec: pod}
}

// TestStorePodIndex checks the store's pod index through writes: pods by name and IP,
// host-network pods by name only, the newest pod winning an IP two claim (whatever the
// order they were stored in), the older taking it back when the newest goes, and the IP
// gone with its last pod.
func TestStorePodIndex(t *testing.T) {
	t0 := time.Unix(1000, 0)
	older, newer := podConfig("old", "10.0.0.1", t0, false), podConfig("new", "10.0.0.1", t0.Add(time.Second), false)
	host := podConfig("host", "192.168.0.1", t0, true)
	for _, order := range [][]*config.Config{{older, newer}, {newer, older}} {
		s := NewStore()
		for _, c := range append(order, host) {
			s.Set(c)
		}
		byIP, byName := s.podSnapshot()
		if byIP["10.0.0.1"] != newer.Spec || len(byName) != 3 {
			t.Errorf("stored %s then %s: IP held by %v, %d pods by name; want the newer, 3", order[0].Name, order[1].Name, byIP["10.0.0.1"], len(byName))
		}
		if byIP["192.168.0.1"] != nil || byName[podKey{"ns", "host"}] != host.Spec {
			t.Error("a host-network pod is indexed by IP, or not by name")
		}
		s.Delete(newer.Key())
		if byIP, _ := s.podSnapshot(); byIP["10.0.0.1"] != older.Spec {
			t.Errorf("after deleting the newer pod the IP is held by %v, want the older", byIP["10.0.0.1"])
		}
		// A snapshot keeps what it saw (the maps are copied on write).
		if byIP["10.0.0.1"] != newer.Spec || len(byName) != 3 {
			t.Errorf("a snapshot changed with a later delete: IP held by %v, %d pods by name", byIP["10.0.0.1"], len(byName))
		}
		moved := podConfig("old", "10.0.0.2", t0, false)
		before, _ := s.podSnapshot()
		s.Set(moved)
		if before["10.0.0.1"] != older.Spec {
			t.Errorf("a snapshot changed with a later write: %v", before)
		}
		byIP, byName = s.podSnapshot()
		s.Set(podConfig("third", "10.0.0.3", t0, false))
		if byIP["10.0.0.3"] != nil || len(byName) != 2 {
			t.Errorf("a snapshot changed with a new pod: %v", byIP)
		}
		if _, ok := byIP["10.0.0.1"]; ok || byIP["10.0.0.2"] != moved.Spec || byName[podKey{"ns", "old"}] != moved.Spec {
			t.Errorf("after the pod moved to 10.0.0.2: by IP %v", byIP)
		}
	}
}
