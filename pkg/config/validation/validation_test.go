package validation_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/config/validation"
)

// fixture is one document of a testdata file with the verdict it declares in comments:
//
//	# error: spec.http[0].route[0].weight: weight -1 < 0
//	# warning: spec.gateways[0]: using legacy gatewayName format ...
//
// A document declares every error and warning it must produce, and nothing else.
type fixture struct {
	name     string
	doc      string
	errors   []string
	warnings []string
}

var (
	separator   = regexp.MustCompile(`(?m)^---\s*$`)
	expectation = regexp.MustCompile(`(?m)^#\s*(error|warning):\s?(.*)$`)
	nameLine    = regexp.MustCompile(`(?m)^  name:\s*(\S+)`)
)

// readFixtures reads every document of every YAML file in dir.
func readFixtures(t *testing.T, dir string) []fixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	var out []fixture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parseFixtures(filepath.Base(f), string(b))...)
	}
	return out
}

// parseFixtures splits a fixture file into its documents, reading each one's declared
// errors and warnings.
func parseFixtures(file, content string) []fixture {
	var out []fixture
	for i, doc := range separator.Split(content, -1) {
		if strings.TrimSpace(expectation.ReplaceAllString(doc, "")) == "" {
			continue
		}
		fx := fixture{doc: doc, name: file + "#" + strconv.Itoa(i+1)}
		if m := nameLine.FindStringSubmatch(doc); m != nil {
			fx.name += "/" + m[1]
		}
		for _, m := range expectation.FindAllStringSubmatch(doc, -1) {
			if m[1] == "error" {
				fx.errors = append(fx.errors, m[2])
			} else {
				fx.warnings = append(fx.warnings, m[2])
			}
		}
		out = append(out, fx)
	}
	return out
}

// decode turns a fixture document into a Config as the file loader does.
func decode(t *testing.T, doc string) *config.Config {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("malformed YAML: %v", err)
	}
	c, err := schema.Decode(js)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	return c
}

// fieldErrors lists the messages of a joined validation error, in order.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error is not joined: %v", err)
	}
	var out []string
	for _, e := range joined.Unwrap() {
		var fe *validation.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q is not a *FieldError", e)
		}
		if fe != nil && fe.Field == "" {
			t.Errorf("error %q names no field", e)
		}
		out = append(out, e.Error())
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// checkFixtures validates every fixture in dir and compares what it gets with what the
// fixture declares. requireErrors says every fixture in dir must declare an error.
func checkFixtures(t *testing.T, dir string, requireErrors bool) {
	runFixtures(t, readFixtures(t, dir), requireErrors)
}

func runFixtures(t *testing.T, fixtures []fixture, requireErrors bool) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			if requireErrors && len(fx.errors) == 0 {
				t.Fatal("invalid fixture declares no error")
			}
			if !requireErrors && len(fx.errors) != 0 {
				t.Fatal("valid fixture declares errors")
			}
			warnings, err := validation.Validate(decode(t, fx.doc))
			if diff := cmp.Diff(sorted(fx.errors), sorted(fieldErrors(t, err))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sorted(fx.warnings), sorted(warnings)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValid checks that objects istiod accepts are accepted, with istiod's warnings.
func TestValid(t *testing.T) { checkFixtures(t, "testdata/valid", false) }

// TestInvalid checks that each rule rejects what istiod rejects, naming the field.
func TestInvalid(t *testing.T) { checkFixtures(t, "testdata/invalid", true) }

// TestSizeLimits checks the limits on long values, with fixtures expanded from a
// template so that testdata does not hold megabytes of filler.
func TestSizeLimits(t *testing.T) {
	b, err := os.ReadFile("testdata/large.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	content := strings.NewReplacer(
		"BODY_1MB", strings.Repeat("x", 1024*1024+1),
		"BODY_100KB", strings.Repeat("x", 100*1024+1),
		"NAME_257", strings.Repeat("p", 257),
		"NAME_254", strings.Repeat("s", 254),
		"NAME_1025", strings.Repeat("v", 1025),
		"LABEL_26", strings.Repeat("aaaaaaaaa.", 26),
		"ANNOTATION_256K", strings.Repeat("n", 256*1024),
	).Replace(string(b))
	runFixtures(t, parseFixtures("large.yaml.tmpl", content), true)
}

// TestErrorsAreCollected checks one object with several violations reports all of
// them, in field order, rather than stopping at the first.
func TestErrorsAreCollected(t *testing.T) {
	b, err := os.ReadFile("testdata/collected.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, verr := validation.Validate(decode(t, string(b)))
	got := fieldErrors(t, verr)
	want := []string{}
	for _, m := range expectation.FindAllStringSubmatch(string(b), -1) {
		want = append(want, m[2])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestUnvalidatedKindsPass checks Kubernetes kinds are left to the API server's rules.
func TestUnvalidatedKindsPass(t *testing.T) {
	c := &config.Config{Meta: config.Meta{Kind: schema.Service, Name: "Not_A_DNS_Name"}}
	if w, err := validation.Validate(c); err != nil || w != nil {
		t.Errorf("Validate(Service) = %v, %v; want nothing", w, err)
	}
}

// TestCompatCorpusIsValid checks every Istio object of the compatibility corpus (which
// istiod accepted when the expected outputs were recorded) is accepted.
func TestCompatCorpusIsValid(t *testing.T) {
	dirs, _ := filepath.Glob("../../../tests/compat/cases/*")
	if len(dirs) == 0 {
		t.Skip("no compatibility corpus in tests/compat/cases")
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, doc := range separator.Split(string(b), -1) {
				js, err := yaml.YAMLToJSON([]byte(doc))
				if err != nil {
					continue
				}
				c, err := schema.Decode(js)
				if err != nil || !schema.ByKind(c.Kind).Istio {
					continue // not an Istio object (proxy.yaml, mesh config, Kubernetes kinds)
				}
				if c.Namespace == "" {
					c.Namespace = "default"
				}
				w, err := validation.Validate(c)
				if err != nil {
					t.Errorf("%s#%d %s: %v", f, i+1, c, err)
				}
				for _, x := range w {
					t.Logf("%s#%d %s: warning: %s", filepath.Base(dir), i+1, c, x)
				}
			}
		}
	}
}

// TestWrongSpecType checks a spec of another kind's type is reported, not a panic.
func TestWrongSpecType(t *testing.T) {
	c := &config.Config{
		Meta: config.Meta{Kind: schema.VirtualService, Name: "vs", Namespace: "default"},
		Spec: &struct{}{},
	}
	_, err := validation.Validate(c)
	want := []string{"spec: unexpected spec type *struct {} for VirtualService"}
	if diff := cmp.Diff(want, fieldErrors(t, err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
