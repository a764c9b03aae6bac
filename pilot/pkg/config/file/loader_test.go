package file

import (
	"strings"
	"testing"

	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

func TestLoadDirReportsBadDocumentsAndKeepsTheRest(t *testing.T) {
	res, err := LoadDir("testdata/mixed", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Configs {
		got = append(got, c.String())
	}
	want := []string{"Service default/details", "DestinationRule default/details"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("configs = %v, want %v", got, want)
	}
	// Every rejected document is named by file and document index, with the reason.
	wantProblems := []struct{ where, what string }{
		{"testdata/mixed/proxy.yaml#1", "not a Kubernetes object"},
		{"testdata/mixed/services.yaml#3", "malformed YAML: yaml: line 23:"},
		{"testdata/mixed/services.yaml#4", "unknown kind example.com/v1 Widget"},
		{"testdata/mixed/typos.yaml#1 VirtualService default/typo", `unknown field "htttp"`},
		{"testdata/mixed/typos.yaml#2", "unknown version v7 of kind VirtualService"},
	}
	errs := res.Errors()
	if len(errs) != len(wantProblems) {
		t.Fatalf("problems = %v, want %d", errs, len(wantProblems))
	}
	for i, w := range wantProblems {
		msg := errs[i].Error()
		if !strings.HasPrefix(msg, w.where) || !strings.Contains(msg, w.what) {
			t.Errorf("problem %d = %q, want it at %q mentioning %q", i, msg, w.where, w.what)
		}
	}
}

func TestLoadDirSkipsNamedFiles(t *testing.T) {
	res, err := LoadDir("testdata/mixed", Options{Skip: []string{"testdata/mixed/proxy.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		if strings.Contains(p.File, "proxy.yaml") {
			t.Errorf("skipped file was read: %v", p)
		}
	}
}

func TestNamespaceDefaulting(t *testing.T) {
	res := ParseFile("x.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d}
spec: {host: details}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
`), Options{DefaultNamespace: "team-b"})
	if len(res.Configs) != 2 {
		t.Fatalf("configs = %d, problems %v", len(res.Configs), res.Problems)
	}
	if dr := res.Configs[0]; dr.Namespace != "team-b" || dr.Kind != schema.DestinationRule {
		t.Errorf("DestinationRule namespace = %q, want team-b", dr.Namespace)
	}
	if ns := res.Configs[1]; ns.Namespace != "" {
		t.Errorf("cluster-scoped Namespace got namespace %q", ns.Namespace)
	}
	if res.Configs[0].Source != "x.yaml#1" {
		t.Errorf("source = %q", res.Configs[0].Source)
	}
}
