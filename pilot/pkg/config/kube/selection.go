package kube

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selection decides which namespaces the mesh watches: the istiod namespace always; the
// others when they pass the watched namespace (if any) and match any discovery selector
// (or there are none).
type selection struct {
	system string
	watch  string
	// from are the mesh config's discoverySelectors, to tell whether a new mesh config
	// changes the selection.
	from      []*meshv1alpha1.LabelSelector
	selectors []labels.Selector
	// all is true when a selector matches every namespace (or there is none).
	all bool
}

func newSelection(discoverySelectors []*meshv1alpha1.LabelSelector, watch, system string) (*selection, error) {
	s := &selection{system: system, watch: watch, from: discoverySelectors, all: len(discoverySelectors) == 0}
	for i, ls := range discoverySelectors {
		sel, err := meshSelector(ls)
		if err != nil {
			return nil, fmt.Errorf("discoverySelectors[%d]: %w", i, err)
		}
		s.all = s.all || sel.Empty()
		s.selectors = append(s.selectors, sel)
	}
	return s, nil
}

// meshSelector converts a mesh config label selector with the Kubernetes rules: a nil
// selector selects nothing, an empty one everything, and otherwise every label and
// expression must match.
func meshSelector(ls *meshv1alpha1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return labels.Nothing(), nil
	}
	k := &metav1.LabelSelector{MatchLabels: ls.MatchLabels}
	for _, e := range ls.MatchExpressions {
		k.MatchExpressions = append(k.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values,
		})
	}
	return metav1.LabelSelectorAsSelector(k)
}

// everything reports whether every namespace is selected, so that one cluster-wide cache
// serves them all.
func (s *selection) everything() bool { return s.all && s.watch == "" }

// selects reports whether objects of ns are watched.
func (s *selection) selects(ns *corev1.Namespace) bool {
	switch {
	case ns.Name == s.system:
		return true
	case s.watch != "" && ns.Name != s.watch:
		return false
	case s.all:
		return true
	}
	set := labels.Set(ns.Labels)
	return slices.ContainsFunc(s.selectors, func(sel labels.Selector) bool { return sel.Matches(set) })
}

// equal reports whether s and o select the same namespaces.
func (s *selection) equal(o *selection) bool {
	return s.system == o.system && s.watch == o.watch &&
		slices.EqualFunc(s.from, o.from, func(a, b *meshv1alpha1.LabelSelector) bool { return proto.Equal(a, b) })
}
