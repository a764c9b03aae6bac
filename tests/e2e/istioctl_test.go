package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
)

// istiodID is the POD_NAME startSextant gives the server: istioctl's ISTIOD column.
const istiodID = "istiod-e2e"

// istioctlBinary finds the upstream istioctl that tools/istioctl/build.sh builds: $ISTIOCTL,
// else $ISTIOCTL_CACHE/istioctl, else ~/.cache/sextant-istioctl/istioctl. Without it the
// test skips, unless SEXTANT_REQUIRE_ISTIOCTL is set (as .ci/run does).
func istioctlBinary(t *testing.T) string {
	path := os.Getenv("ISTIOCTL")
	if path == "" {
		dir := os.Getenv("ISTIOCTL_CACHE")
		if dir == "" {
			home, _ := os.UserHomeDir()
			dir = filepath.Join(home, ".cache", "sextant-istioctl")
		}
		path = filepath.Join(dir, "istioctl")
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("istioctl not found at %s: build it with `make istioctl` (tools/istioctl/build.sh) or set ISTIOCTL", path)
		if os.Getenv("SEXTANT_REQUIRE_ISTIOCTL") != "" { // CI: a skip would hide a broken build
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// istioctl runs the binary against the xDS server the way one does without Kubernetes:
// revision given (else it waits for a cluster), plaintext, isolated from the caller's
// kubeconfig and istioctl config.
func istioctl(t *testing.T, bin, xdsAddr string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args = append(args, "-r", "default", "--xds-address", xdsAddr, "--plaintext")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("istioctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// proxyWant is what istioctl should report for one connected proxy: its per-type status
// by short type name (SYNCED, ERROR, ...); absent types are not subscribed.
type proxyWant struct {
	id    string
	types map[string]string
}

func (w proxyWant) subscribed() string {
	var names []string
	for _, t := range []string{"CDS", "LDS", "EDS", "RDS"} { // istioctl's order
		if _, ok := w.types[t]; ok {
			names = append(names, t)
		}
	}
	return fmt.Sprintf("%d (%s)", len(names), strings.Join(names, ","))
}

var istioctlWant = []proxyWant{
	// The grpc-go client after an RPC: LDS -> RDS -> CDS -> EDS, all ACKed.
	{id: "productpage-v1-0.default", types: map[string]string{"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED"}},
	// The simulated Envoy ACKs CDS and LDS and NACKs EDS.
	{id: "reviews-v1-0.default", types: map[string]string{"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "ERROR"}},
}

// TestIstioctlAgainstSextant runs upstream istioctl 1.31 against Sextant with two proxies
// connected, a proxyless grpc-go client and a simulated Envoy, and checks that
// proxy-status and internal-debug show them the way they would against istiod.
func TestIstioctlAgainstSextant(t *testing.T) {
	bin := istioctlBinary(t)
	port := freePort(t)
	startBackend(t, fmt.Sprintf("127.0.0.1:%d", port), "v1")
	startBackend(t, fmt.Sprintf("127.0.0.2:%d", port), "v2")
	s := startSextant(t, writeMesh(t, port))
	xdsAddr := s.Addr("grpc")

	if r := startClient(t, xdsAddr).call(1, ""); r["v1"]+r["v2"] != 1 {
		t.Fatalf("grpc-go client RPC: %v", r)
	}
	e := connectEnvoy(t, xdsAddr, map[string]string{xds.EndpointType: "simulated: cannot apply endpoints"})
	e.subscribe(xds.ClusterType)
	e.subscribe(xds.ListenerType)
	e.subscribe(xds.EndpointType, "outbound|9080||reviews.default.svc.cluster.local")

	// grpc-go ACKs on its own schedule: wait until istioctl sees every status settled.
	configs := waitProxyStatus(t, bin, xdsAddr, istioctlWant)

	t.Run("proxy-status -o json", func(t *testing.T) {
		for _, w := range istioctlWant {
			cc := configs[w.id]
			// istiod's node metadata in syncz: these three fields, nothing else.
			want := map[string]any{"CLUSTER_ID": "Kubernetes", "NAMESPACE": "default", "ISTIO_VERSION": "1.31.1"}
			if got := cc.GetNode().GetMetadata().AsMap(); !maps.Equal(got, want) {
				t.Errorf("%s node metadata = %v, want %v", w.id, got, want)
			}
			for _, x := range cc.GetGenericXdsConfigs() {
				nacked := x.GetConfigStatus() == statusv3.ConfigStatus_ERROR
				if x.GetLastUpdated() == nil || nacked != strings.Contains(x.GetErrorState().GetDetails(), "simulated") {
					t.Errorf("%s %s: last updated %v, error state %v", w.id, x.GetTypeUrl(), x.GetLastUpdated(), x.GetErrorState())
				}
			}
		}
	})

	t.Run("proxy-status", func(t *testing.T) {
		out := istioctl(t, bin, xdsAddr, "proxy-status")
		t.Logf("istioctl proxy-status:\n%s", out)
		rows := table(t, out, []string{"NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"})
		if len(rows) != len(istioctlWant) {
			t.Errorf("%d rows, want %d: istioctl's own connection must not be listed", len(rows), len(istioctlWant))
		}
		for _, w := range istioctlWant {
			want := map[string]string{"CLUSTER": "Kubernetes", "ISTIOD": istiodID, "VERSION": "1.31.1", "SUBSCRIBED TYPES": w.subscribed()}
			checkRow(t, rows, w.id, want, func(got, want string) bool { return got == want })
		}
	})
	t.Run("proxy-status -n", func(t *testing.T) {
		// istioctl filters on the NAMESPACE node metadata of each ClientConfig.
		for ns, want := range map[string]int{"default": len(istioctlWant), "istio-system": 0} {
			out := istioctl(t, bin, xdsAddr, "proxy-status", "-n", ns)
			if rows := table(t, out, []string{"NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"}); len(rows) != want {
				t.Errorf("-n %s: %d rows, want %d:\n%s", ns, len(rows), want, out)
			}
		}
	})
	t.Run("proxy-status -v 1", func(t *testing.T) {
		out := istioctl(t, bin, xdsAddr, "proxy-status", "--verbosity", "1")
		t.Logf("istioctl proxy-status --verbosity 1:\n%s", out)
		// Type columns are sorted by type URL.
		rows := table(t, out, []string{"NAME", "CLUSTER", "CDS", "ECDS", "EDS", "LDS", "RDS", "ISTIOD", "VERSION"})
		for _, w := range istioctlWant {
			want := map[string]string{"ISTIOD": istiodID}
			for _, typ := range []string{"CDS", "LDS", "EDS", "RDS", "ECDS"} {
				want[typ] = "IGNORED"
				if st, ok := w.types[typ]; ok {
					want[typ] = st + " (" // SYNCED (3s): the age varies
				}
			}
			checkRow(t, rows, w.id, want, strings.HasPrefix)
		}
	})
	t.Run("internal-debug syncz", func(t *testing.T) {
		out := istioctl(t, bin, xdsAddr, "x", "internal-debug", "syncz")
		t.Logf("istioctl x internal-debug syncz:\n%s", out)
		checkDebugSyncz(t, out)
	})
}

// waitProxyStatus polls `proxy-status -o json` (the syncz response as istioctl received
// it) until every proxy reports the wanted statuses, and returns the last response.
func waitProxyStatus(t *testing.T, bin, xdsAddr string, want []proxyWant) map[string]*statusv3.ClientConfig {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := proxyStatusJSON(t, istioctl(t, bin, xdsAddr, "proxy-status", "-o", "json"))
		diff := statusDiff(got, want)
		if diff == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy-status after 20s: %s", diff)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// proxyStatusJSON parses istioctl's JSON output, the syncz DiscoveryResponse, into
// ClientConfigs by proxy ID, checking the ControlPlane identifier on the way.
func proxyStatusJSON(t *testing.T, out string) map[string]*statusv3.ClientConfig {
	t.Helper()
	resp := &discoveryv3.DiscoveryResponse{}
	if err := protojson.Unmarshal([]byte(out), resp); err != nil {
		t.Fatalf("proxy-status -o json: %v\n%s", err, out)
	}
	var cp struct{ Component, ID string }
	if err := json.Unmarshal([]byte(resp.GetControlPlane().GetIdentifier()), &cp); err != nil || cp.ID != istiodID || cp.Component != "istiod" {
		t.Fatalf("control plane identifier %q: want Component istiod, ID %s (%v)", resp.GetControlPlane().GetIdentifier(), istiodID, err)
	}
	got := map[string]*statusv3.ClientConfig{}
	for _, r := range resp.GetResources() {
		cc := &statusv3.ClientConfig{}
		if err := r.UnmarshalTo(cc); err != nil {
			t.Fatalf("resource %s: %v", r.GetTypeUrl(), err)
		}
		got[cc.GetNode().GetId()] = cc
	}
	return got
}

// statuses is a ClientConfig's status by short type name.
func statuses(cc *statusv3.ClientConfig) map[string]string {
	out := map[string]string{}
	for _, x := range cc.GetGenericXdsConfigs() {
		out[strings.ToUpper(xds.ShortName(x.GetTypeUrl()))] = x.GetConfigStatus().String()
	}
	return out
}

func statusDiff(got map[string]*statusv3.ClientConfig, want []proxyWant) string {
	var diffs []string
	if len(got) != len(want) {
		diffs = append(diffs, fmt.Sprintf("%d proxies listed, want %d", len(got), len(want)))
	}
	for _, w := range want {
		cc, ok := got[w.id]
		switch {
		case !ok:
			diffs = append(diffs, w.id+" not listed")
		case fmt.Sprint(statuses(cc)) != fmt.Sprint(w.types):
			diffs = append(diffs, fmt.Sprintf("%s: %v, want %v", w.id, statuses(cc), w.types))
		}
	}
	return strings.Join(diffs, "; ")
}

// table splits istioctl's tabwriter output into rows keyed by NAME. Columns are padded
// with at least two spaces, while a cell ("SYNCED (3s)") holds single spaces only.
func table(t *testing.T, out string, header []string) map[string]map[string]string {
	t.Helper()
	sep := regexp.MustCompile(`\s{2,}`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := sep.Split(strings.TrimSpace(lines[0]), -1); !slices.Equal(got, header) {
		t.Fatalf("header %q, want %q", got, header)
	}
	rows := map[string]map[string]string{}
	for _, l := range lines[1:] {
		cells := sep.Split(strings.TrimSpace(l), -1)
		if len(cells) != len(header) {
			t.Fatalf("row %q: %d cells, want %d", l, len(cells), len(header))
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cells[i]
		}
		rows[cells[0]] = row
	}
	return rows
}

func checkRow(t *testing.T, rows map[string]map[string]string, id string, want map[string]string, match func(got, want string) bool) {
	t.Helper()
	row, ok := rows[id]
	if !ok {
		t.Errorf("%s not listed", id)
		return
	}
	for col, w := range want {
		if !match(row[col], w) {
			t.Errorf("%s %s = %q, want %q", id, col, row[col], w)
		}
	}
}

// checkDebugSyncz checks /debug/syncz as istioctl prints it: each proxy listed with its
// CDS and LDS nonces ACKed.
func checkDebugSyncz(t *testing.T, out string) {
	t.Helper()
	var entries []struct {
		Proxy        string `json:"proxy"`
		ClusterID    string `json:"cluster_id"`
		IstioVersion string `json:"istio_version"`
		ClusterSent  string `json:"cluster_sent"`
		ClusterAcked string `json:"cluster_acked"`
		ListenerSent string `json:"listener_sent"`
		ListenerAck  string `json:"listener_acked"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("internal-debug syncz: %v\n%s", err, out)
	}
	for _, w := range istioctlWant {
		found := false
		for _, e := range entries {
			// istiod names the proxy; Sextant names the connection, "<proxy id>-<n>".
			if e.Proxy != w.id && !strings.HasPrefix(e.Proxy, w.id+"-") {
				continue
			}
			found = true
			if e.ClusterSent == "" || e.ClusterSent != e.ClusterAcked || e.ListenerSent == "" || e.ListenerSent != e.ListenerAck {
				t.Errorf("%s: CDS sent/acked %q/%q, LDS %q/%q: want both ACKed", e.Proxy, e.ClusterSent, e.ClusterAcked, e.ListenerSent, e.ListenerAck)
			}
			if e.ClusterID != "Kubernetes" || e.IstioVersion != "1.31.1" {
				t.Errorf("%s: cluster %q, version %q", e.Proxy, e.ClusterID, e.IstioVersion)
			}
		}
		if !found {
			t.Errorf("%s not in internal-debug syncz", w.id)
		}
	}
}
