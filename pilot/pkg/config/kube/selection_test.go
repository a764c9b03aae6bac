package kube

import (
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ns(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestSelection(t *testing.T) {
	on := &meshv1alpha1.LabelSelector{MatchLabels: map[string]string{"mesh": "on"}}
	team := &meshv1alpha1.LabelSelector{MatchExpressions: []*meshv1alpha1.LabelSelectorRequirement{
		{Key: "team", Operator: "In", Values: []string{"a", "b"}},
	}}
	tests := []struct {
		name       string
		selectors  []*meshv1alpha1.LabelSelector
		watch      string
		everything bool
		selected   []*corev1.Namespace
		skipped    []*corev1.Namespace
	}{
		{
			name: "no selectors: everything", everything: true,
			selected: []*corev1.Namespace{ns("a", nil), ns("istio-system", nil)},
		},
		{
			name: "an empty selector matches everything", selectors: []*meshv1alpha1.LabelSelector{{}, on}, everything: true,
			selected: []*corev1.Namespace{ns("a", nil)},
		},
		{
			name: "any selector matches (OR)", selectors: []*meshv1alpha1.LabelSelector{on, team},
			selected: []*corev1.Namespace{ns("a", map[string]string{"mesh": "on"}), ns("b", map[string]string{"team": "b"})},
			skipped:  []*corev1.Namespace{ns("c", map[string]string{"team": "c"}), ns("d", map[string]string{"mesh": "off"})},
		},
		{
			name: "the istiod namespace is always selected", selectors: []*meshv1alpha1.LabelSelector{on},
			selected: []*corev1.Namespace{ns("istio-system", nil)},
		},
		{
			name: "labels and expressions of one selector must all match",
			selectors: []*meshv1alpha1.LabelSelector{{
				MatchLabels:      map[string]string{"mesh": "on"},
				MatchExpressions: []*meshv1alpha1.LabelSelectorRequirement{{Key: "legacy", Operator: "DoesNotExist"}},
			}},
			selected: []*corev1.Namespace{ns("a", map[string]string{"mesh": "on"})},
			skipped:  []*corev1.Namespace{ns("b", map[string]string{"mesh": "on", "legacy": "true"})},
		},
		{
			name: "a nil selector matches nothing", selectors: []*meshv1alpha1.LabelSelector{nil},
			skipped: []*corev1.Namespace{ns("a", nil)},
		},
		{
			name: "ISTIO_WATCH_NAMESPACE restricts to one namespace", watch: "a",
			selected: []*corev1.Namespace{ns("a", nil), ns("istio-system", nil)},
			skipped:  []*corev1.Namespace{ns("b", nil)},
		},
		{
			name: "ISTIO_WATCH_NAMESPACE and selectors both apply", watch: "a", selectors: []*meshv1alpha1.LabelSelector{on},
			selected: []*corev1.Namespace{ns("a", map[string]string{"mesh": "on"})},
			skipped:  []*corev1.Namespace{ns("a", nil), ns("b", map[string]string{"mesh": "on"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSelection(tt.selectors, tt.watch, "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			if s.everything() != tt.everything {
				t.Errorf("everything() = %v", s.everything())
			}
			for _, n := range tt.selected {
				if !s.selects(n) {
					t.Errorf("%s %v not selected", n.Name, n.Labels)
				}
			}
			for _, n := range tt.skipped {
				if s.selects(n) {
					t.Errorf("%s %v selected", n.Name, n.Labels)
				}
			}
		})
	}
}

func TestSelectionRejectsBadOperators(t *testing.T) {
	_, err := newSelection([]*meshv1alpha1.LabelSelector{{
		MatchExpressions: []*meshv1alpha1.LabelSelectorRequirement{{Key: "a", Operator: "Like"}},
	}}, "", "istio-system")
	if err == nil {
		t.Error("operator Like accepted")
	}
}

func TestSelectionEquality(t *testing.T) {
	a, _ := newSelection([]*meshv1alpha1.LabelSelector{{MatchLabels: map[string]string{"x": "1"}}}, "", "istio-system")
	b, _ := newSelection([]*meshv1alpha1.LabelSelector{{MatchLabels: map[string]string{"x": "1"}}}, "", "istio-system")
	c, _ := newSelection([]*meshv1alpha1.LabelSelector{{MatchLabels: map[string]string{"x": "2"}}}, "", "istio-system")
	d, _ := newSelection(nil, "", "istio-system")
	if !a.equal(b) || a.equal(c) || a.equal(d) {
		t.Error("equal() does not follow the selectors")
	}
}
