package model

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Labels and annotations that name the workload behind an endpoint (telemetry's
// istio.workload endpoint metadata).
const (
	labelWorkloadName           = "service.istio.io/workload-name"
	annotationAutoRegisterGroup = "istio.io/autoRegistrationGroup"
	labelPodTemplateHash        = "pod-template-hash"
	labelRolloutsTemplateHash   = "rollouts-pod-template-hash"
	labelDeploymentConfig       = "deploymentconfig"
)

// cronJobName matches the Jobs a CronJob creates: <cronjob>-<8 to 10 digit timestamp>.
var cronJobName = regexp.MustCompile(`^(.+)-\d{8,10}$`)

// podWorkloadName is the name istiod reports for the workload running a Pod: the
// service.istio.io/workload-name label, else the Deployment (or Rollout, DeploymentConfig,
// CronJob) its controller reference points to when the Pod's name was generated, else the
// controller's name, else the Pod's name.
func podWorkloadName(pod *corev1.Pod) string {
	if wn, ok := pod.Labels[labelWorkloadName]; ok {
		return wn
	}
	if pod.GenerateName == "" {
		return pod.Name
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if n := controllerWorkloadName(pod, ref.Kind, ref.Name); n != "" {
			return n
		}
		break
	}
	return pod.Name
}

// controllerWorkloadName maps a Pod's controller to the workload that owns it.
func controllerWorkloadName(pod *corev1.Pod, kind, name string) string {
	hash, rolloutHash := pod.Labels[labelPodTemplateHash], pod.Labels[labelRolloutsTemplateHash]
	switch {
	case kind == "ReplicaSet" && hash != "" && strings.HasSuffix(name, hash):
		return strings.TrimSuffix(name, "-"+hash)
	case kind == "ReplicaSet" && rolloutHash != "" && strings.HasSuffix(name, rolloutHash):
		return strings.TrimSuffix(name, "-"+rolloutHash)
	case kind == "ReplicationController" && pod.Labels[labelDeploymentConfig] != "":
		return pod.Labels[labelDeploymentConfig]
	case kind == "Job":
		if m := cronJobName.FindStringSubmatch(name); len(m) == 2 {
			return m[1]
		}
	}
	return name
}

// workloadEntryName is the workload name of a WorkloadEntry: its auto-registration group,
// else its service.istio.io/workload-name label, else its own name.
func workloadEntryName(name string, annotations, labels map[string]string) string {
	if g, ok := annotations[annotationAutoRegisterGroup]; ok {
		return g
	}
	if wn, ok := labels[labelWorkloadName]; ok {
		return wn
	}
	return name
}
