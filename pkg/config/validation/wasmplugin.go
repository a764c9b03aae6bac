package validation

import (
	"fmt"
	"net/url"

	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// Limits istiod puts on WasmPlugin strings.
const (
	maxImagePullSecretLength = 253
	maxPluginNameLength      = 256
	maxEnvNameLength         = 256
)

// wasmURLSchemes are the schemes a plugin may be fetched with ("" is an OCI image).
var wasmURLSchemes = map[string]bool{"": true, "file": true, "http": true, "https": true, "oci": true}

// validateWasmPlugin applies istiod's WasmPlugin rules: one way of selecting workloads, a
// fetchable URL, a well-formed sha256, bounded names, unique environment variables with
// inline values only when INLINE, and traffic selector ports in range.
func validateWasmPlugin(c *config.Config, r *report) {
	w, ok := specAs[*extensionsv1alpha1.WasmPlugin](c, r)
	if !ok {
		return
	}
	checkPolicyTargets(r, w.GetSelector(), w.GetTargetRef(), w.GetTargetRefs())
	r.add("spec.url", checkWasmURL(w.Url))
	if w.Sha256 != "" {
		r.add("spec.sha256", checkSHA256(w.Sha256))
	}
	if len(w.ImagePullSecret) > maxImagePullSecretLength {
		r.errorf("spec.imagePullSecret", "imagePullSecret field must be less than 253 characters long")
	}
	if len(w.PluginName) > maxPluginNameLength {
		r.errorf("spec.pluginName", "pluginName field must be less than 255 characters long")
	}
	checkVMConfig(r, "spec.vmConfig.env", w.GetVmConfig().GetEnv())
	for i, sel := range w.Match {
		sp := path("spec.match").index(i)
		if sel == nil {
			r.errorf(sp, "match may not be null")
			continue
		}
		for j, port := range sel.Ports {
			if n := port.GetNumber(); n == 0 || n > 65535 {
				r.errorf(sp.field("ports").index(j).field("number"), "port %d is out of range 1..65535", n)
			}
		}
	}
}

// checkWasmURL checks a plugin URL parses (a bare "host/path" is read as http) and uses a
// supported scheme.
func checkWasmURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("url field needs to be set")
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		var herr error
		if u, herr = url.ParseRequestURI("http://" + raw); herr != nil {
			return fmt.Errorf("failed to parse url: %s", err)
		}
		raw = "http://" + raw
	}
	if _, err := url.Parse(raw); err != nil {
		return fmt.Errorf("failed to strict parse url: %s", err)
	}
	if !wasmURLSchemes[u.Scheme] {
		return fmt.Errorf("url contains unsupported scheme: %s", u.Scheme)
	}
	return nil
}

// checkSHA256 checks a lower-case hex SHA-256 digest.
func checkSHA256(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("sha256 field must be 64 characters long")
	}
	for _, c := range s {
		if !('a' <= c && c <= 'f' || '0' <= c && c <= '9') {
			return fmt.Errorf("sha256 field must match [a-f0-9]{64} pattern")
		}
	}
	return nil
}

func checkVMConfig(r *report, p path, env []*extensionsv1alpha1.EnvVar) {
	seen := map[string]bool{}
	for i, e := range env {
		ep := p.index(i)
		if e == nil {
			continue
		}
		switch {
		case e.Name == "":
			r.errorf(ep.field("name"), "env name may not be empty")
		case len(e.Name) > maxEnvNameLength:
			r.errorf(ep.field("name"), "env.name field must be less than 255 characters long")
		case seen[e.Name]:
			r.errorf(ep.field("name"), "duplicate env %s", e.Name)
		}
		seen[e.Name] = true
		if e.ValueFrom != extensionsv1alpha1.EnvValueSource_INLINE && e.Value != "" {
			r.errorf(ep.field("value"), "value may only be set when valueFrom is INLINE")
		}
	}
}
