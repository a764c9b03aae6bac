package kube

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/testing/protocmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// The Configs of the Kubernetes source must be those the config directory makes of the
// same manifests, but for where they came from.
func TestConfigsAreThoseOfTheConfigDirectory(t *testing.T) {
	for _, o := range loadObjects(t, "mesh.yaml") {
		k := keyOf(t, o)
		t.Run(k.String(), func(t *testing.T) {
			s := schema.ByKind(k.Kind)
			got, _, err := toConfig(newKind(s, o.GetObjectKind().GroupVersionKind().Version), o)
			if err != nil {
				t.Fatal(err)
			}
			js, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			want, err := schema.Decode(js)
			if err != nil {
				t.Fatal(err)
			}
			opts := cmp.Options{
				protocmp.Transform(),
				cmpopts.IgnoreFields(config.Meta{}, "Source"),
				cmpopts.IgnoreFields(metav1.TypeMeta{}, "Kind", "APIVersion"), // the caches drop it
				cmpopts.EquateEmpty(),
			}
			if d := cmp.Diff(want, got, opts); d != "" {
				t.Errorf("(-config dir +kube):\n%s", d)
			}
		})
	}
}

func TestTrimKeepsWhatTheMeshReads(t *testing.T) {
	objs := loadObjects(t, "mesh.yaml")
	pod := find(t, objs, "Pod", "reviews-v1-0").(*corev1.Pod)
	pod.Annotations = map[string]string{annotationLastApplied: "{...}", "sidecar.istio.io/inject": "true"}
	pod.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "data"}}
	pod.Status = corev1.PodStatus{PodIP: "10.244.1.7", Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}}
	if _, err := trim(pod); err != nil {
		t.Fatal(err)
	}
	if pod.ManagedFields != nil || pod.Annotations[annotationLastApplied] != "" || pod.Annotations["sidecar.istio.io/inject"] != "true" {
		t.Errorf("metadata: %+v", pod.ObjectMeta)
	}
	if pod.Spec.Volumes != nil || pod.Status.Conditions != nil {
		t.Error("volumes or conditions kept")
	}
	c := pod.Spec.Containers
	if pod.Spec.ServiceAccountName != "reviews" || pod.Spec.NodeName != "node-a" || pod.Status.PodIP != "10.244.1.7" ||
		len(c) != 1 || c[0].Ports[0].ContainerPort != 9080 || c[0].Image != "" {
		t.Errorf("pod lost what the mesh reads: %+v %+v", pod.Spec, pod.Status)
	}

	dr := find(t, objs, "DestinationRule", "reviews").(*unstructured.Unstructured)
	_ = unstructured.SetNestedField(dr.Object, "x", "status", "note")
	_, _ = trim(dr)
	if _, ok := dr.Object["status"]; ok || dr.Object["spec"] == nil {
		t.Errorf("Istio object: %v", dr.Object)
	}
}

// A node's heartbeat (a status write) must not look like a change once trimmed.
func TestNodeHeartbeatsAreNotChanges(t *testing.T) {
	objs := loadObjects(t, "mesh.yaml")
	a := find(t, objs, "Node", "node-a").(*corev1.Node)
	b := a.DeepCopy()
	a.ResourceVersion, b.ResourceVersion = "1", "2"
	a.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, LastHeartbeatTime: metav1.Unix(1, 0)}}
	b.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, LastHeartbeatTime: metav1.Unix(2, 0)}}
	for _, n := range []client.Object{a, b} {
		_, _ = trim(n)
	}
	s := schema.ByKind(schema.Node)
	if !sameObject(kubeConfig(s, a), kubeConfig(s, b)) {
		t.Error("heartbeat seen as a change")
	}
	b.Labels = map[string]string{"topology.kubernetes.io/zone": "eu-west1-c"}
	if sameObject(kubeConfig(s, a), kubeConfig(s, b)) {
		t.Error("zone change not seen")
	}
	if a.ResourceVersion != "1" {
		t.Error("sameObject altered its input")
	}
}
