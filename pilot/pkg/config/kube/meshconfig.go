package kube

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// ConfigMap keys of the mesh config, as istiod reads them.
const (
	keyMesh         = "mesh"
	keyMeshNetworks = "meshNetworks"
)

// meshReconciler follows the mesh ConfigMap: its mesh config goes to OnMesh and decides
// which namespaces are watched; its meshNetworks go to OnMeshNetworks.
type meshReconciler struct{ s *Source }

var _ reconcile.Reconciler = &meshReconciler{}

// Reconcile implements reconcile.Reconciler.
func (r *meshReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.Namespace != r.s.opts.SystemNamespace || req.Name != r.s.opts.MeshConfigMap {
		return reconcile.Result{}, nil
	}
	if err := r.s.waitReady(ctx); err != nil {
		return reconcile.Result{}, err
	}
	if _, err := r.s.syncMesh(ctx); err != nil {
		return reconcile.Result{}, err
	}
	if !r.s.rescope.Load() {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, r.s.syncAllNamespaces(ctx)
}

// syncMesh reads the mesh ConfigMap and hands on what changed. A missing ConfigMap or
// key means istiod's defaults; a ConfigMap that does not parse is reported and the
// previous config kept, as istiod does. It reports whether the namespace selection
// changed.
func (s *Source) syncMesh(ctx context.Context) (selectionChanged bool, err error) {
	cm := &corev1.ConfigMap{}
	err = s.cluster.Get(ctx, client.ObjectKey{Namespace: s.opts.SystemNamespace, Name: s.opts.MeshConfigMap}, cm, client.UnsafeDisableDeepCopy)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("reading mesh config: %w", err)
	}
	s.meshMu.Lock()
	defer s.meshMu.Unlock()
	if n, err := parseMeshNetworks(cm.Data[keyMeshNetworks]); err != nil {
		s.log.Error(err, "mesh networks rejected; keeping the previous ones", "configMap", s.opts.MeshConfigMap)
	} else if !proto.Equal(n, s.networks) {
		s.networks = n
		s.opts.OnMeshNetworks(n)
	}
	m, err := parseMesh(cm.Data[keyMesh])
	if err != nil {
		s.log.Error(err, "mesh config rejected; keeping the previous one", "configMap", s.opts.MeshConfigMap)
		return false, nil
	}
	if proto.Equal(m, s.mesh) {
		return false, nil
	}
	s.mesh = m
	s.log.Info("mesh config changed", "configMap", s.opts.MeshConfigMap)
	s.opts.OnMesh(m)
	return s.setSelection(m), nil
}

// setSelection derives the namespace selection from m; it reports whether it changed,
// and then marks the scopes for a rescope. Invalid selectors are reported and the
// previous selection kept.
func (s *Source) setSelection(m *meshv1alpha1.MeshConfig) bool {
	sel, err := newSelection(m.GetDiscoverySelectors(), s.opts.WatchNamespace, s.opts.SystemNamespace)
	if err != nil {
		s.log.Error(err, "invalid discoverySelectors; keeping the previous selection")
		return false
	}
	if old := s.sel.Load(); old != nil && old.equal(sel) {
		return false
	}
	s.sel.Store(sel)
	s.rescope.Store(true)
	return true
}

func parseMesh(doc string) (*meshv1alpha1.MeshConfig, error) {
	if doc == "" {
		return mesh.Default(), nil
	}
	return mesh.Apply([]byte(doc), mesh.Default())
}

func parseMeshNetworks(doc string) (*meshv1alpha1.MeshNetworks, error) {
	n := &meshv1alpha1.MeshNetworks{}
	if doc == "" {
		return n, nil
	}
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("meshNetworks: %w", err)
	}
	if err := protojson.Unmarshal(js, n); err != nil {
		return nil, fmt.Errorf("meshNetworks: %w", err)
	}
	return n, nil
}
