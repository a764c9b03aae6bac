package file

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// setObjectNamespace keeps a Kubernetes object's own metadata in line with the namespace
// defaulted on its Config.
func setObjectNamespace(c *config.Config) {
	if o, ok := c.Spec.(metav1.Object); ok {
		o.SetNamespace(c.Namespace)
	}
}
