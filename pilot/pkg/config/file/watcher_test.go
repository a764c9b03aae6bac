package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

const drV1 = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
`

const svc = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.16
  ports: [{name: http, port: 9080}]
`

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var drKey = config.Key{Kind: schema.DestinationRule, Namespace: "default", Name: "reviews"}
var svcKey = config.Key{Kind: schema.Service, Namespace: "default", Name: "reviews"}

func TestSyncReportsOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "dr.yaml", drV1)
	write(t, dir, "svc.yaml", svc)
	store := model.NewStore()
	src := NewSource(dir, Options{}, store, nil, logr.Discard())
	changed, err := src.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 {
		t.Fatalf("first sync changed %v", changed)
	}
	// Rewriting a file with the same objects (even reformatted) changes nothing.
	write(t, dir, "svc.yaml", "# same object\n"+svc)
	if changed, _ = src.Sync(); len(changed) != 0 {
		t.Errorf("unchanged sync reported %v", changed)
	}
	// An edit reports that object only.
	write(t, dir, "dr.yaml", drV1[:len(drV1)-len("ROUND_ROBIN}}\n")]+"RANDOM}}\n")
	if changed, _ = src.Sync(); len(changed) != 1 || !has(changed, drKey) {
		t.Errorf("edit reported %v", changed)
	}
	// A delete removes it from the store.
	if err := os.Remove(filepath.Join(dir, "dr.yaml")); err != nil {
		t.Fatal(err)
	}
	if changed, _ = src.Sync(); len(changed) != 1 || !has(changed, drKey) || store.Get(drKey) != nil {
		t.Errorf("delete reported %v, store still has it: %v", changed, store.Get(drKey) != nil)
	}
	if store.Get(svcKey) == nil {
		t.Error("service lost")
	}
}

func TestRunAppliesEditsWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "svc.yaml", svc)
	store := model.NewStore()
	got := make(chan map[config.Key]struct{}, 10)
	src := NewSource(dir, Options{}, store, func(c map[config.Key]struct{}) { got <- c }, logr.Discard())
	if _, err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.Run(ctx, 20*time.Millisecond) }()
	time.Sleep(100 * time.Millisecond) // let the watch start
	write(t, dir, "dr.yaml", drV1)
	select {
	case c := <-got:
		if !has(c, drKey) || store.Get(drKey) == nil {
			t.Errorf("change = %v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported after adding a file")
	}
}

func has(m map[config.Key]struct{}, k config.Key) bool { _, ok := m[k]; return ok }
