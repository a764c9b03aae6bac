package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodWorkloadName(t *testing.T) {
	yes := true
	owned := func(kind, name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: "pod-x", GenerateName: "gen-", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}},
		}}
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"plain pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pod-x"}}, "pod-x"},
		{"deployment", owned("ReplicaSet", "web-5f7d", map[string]string{"pod-template-hash": "5f7d"}), "web"},
		{"bare replicaset", owned("ReplicaSet", "web-rs", nil), "web-rs"},
		{"rollout", owned("ReplicaSet", "web-abc", map[string]string{"rollouts-pod-template-hash": "abc"}), "web"},
		{"cronjob", owned("Job", "backup-28391000", nil), "backup"},
		{"job", owned("Job", "migrate", nil), "migrate"},
		{"deploymentconfig", owned("ReplicationController", "dc-1", map[string]string{"deploymentconfig": "dc"}), "dc"},
		{"label wins", owned("ReplicaSet", "web-5f7d", map[string]string{"pod-template-hash": "5f7d", labelWorkloadName: "w"}), "w"},
		{"owner without generated name", func() *corev1.Pod {
			p := owned("ReplicaSet", "web-5f7d", map[string]string{"pod-template-hash": "5f7d"})
			p.GenerateName = ""
			return p
		}(), "pod-x"},
	}
	for _, c := range cases {
		if got := podWorkloadName(c.pod); got != c.want {
			t.Errorf("%s: podWorkloadName = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSubsetTrafficPolicy(t *testing.T) {
	lr := &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_Simple{Simple: networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST}}
	rr := &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_Simple{Simple: networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN}}
	od := &networkingv1alpha3.OutlierDetection{MinHealthPercent: 10}
	tls := &networkingv1alpha3.ClientTLSSettings{Mode: networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL}
	port := func(n uint32) *networkingv1alpha3.PortSelector { return &networkingv1alpha3.PortSelector{Number: n} }
	dr := &networkingv1alpha3.DestinationRule{
		TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			LoadBalancer: lr, OutlierDetection: od,
			PortLevelSettings: []*networkingv1alpha3.TrafficPolicy_PortTrafficPolicy{{Port: port(81), Tls: tls}},
		},
		Subsets: []*networkingv1alpha3.Subset{
			{Name: "a", TrafficPolicy: &networkingv1alpha3.TrafficPolicy{LoadBalancer: rr}},
			{Name: "b", TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
				PortLevelSettings: []*networkingv1alpha3.TrafficPolicy_PortTrafficPolicy{{Port: port(80), LoadBalancer: rr}},
			}},
		},
	}
	cases := []struct {
		subset string
		port   int
		want   *networkingv1alpha3.TrafficPolicy
	}{
		{"", 80, dr.TrafficPolicy},
		// Port-level settings replace the rule's, they do not inherit.
		{"", 81, &networkingv1alpha3.TrafficPolicy{Tls: tls}},
		{"a", 80, &networkingv1alpha3.TrafficPolicy{LoadBalancer: rr, OutlierDetection: od}},
		{"a", 81, &networkingv1alpha3.TrafficPolicy{LoadBalancer: rr, Tls: tls}},
		// A subset's port-level settings replace all four policies.
		{"b", 80, &networkingv1alpha3.TrafficPolicy{LoadBalancer: rr}},
		{"b", 82, &networkingv1alpha3.TrafficPolicy{LoadBalancer: lr, OutlierDetection: od}},
		{"missing", 80, dr.TrafficPolicy},
	}
	for _, c := range cases {
		got := SubsetTrafficPolicy(dr, c.subset, c.port)
		if d := cmp.Diff(c.want, got, protocmp.Transform()); d != "" {
			t.Errorf("SubsetTrafficPolicy(%q, %d) (-want +got):\n%s", c.subset, c.port, d)
		}
	}
	if SubsetTrafficPolicy(nil, "a", 80) != nil {
		t.Errorf("SubsetTrafficPolicy(nil rule) is not nil")
	}
}
