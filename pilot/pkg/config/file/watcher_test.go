package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
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

// badDoc is a document LoadDir rejects (malformed YAML).
const badDoc = "kind: [unclosed\n"

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic replaces name the way editors and config tools do (write a temporary file,
// rename it over), so that a watcher never sees the file half written.
func writeAtomic(t *testing.T, dir, name, content string) {
	t.Helper()
	write(t, dir, name+".tmp", content)
	if err := os.Rename(filepath.Join(dir, name+".tmp"), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

var drKey = config.Key{Kind: schema.DestinationRule, Namespace: "default", Name: "reviews"}
var svcKey = config.Key{Kind: schema.Service, Namespace: "default", Name: "reviews"}

// dr is a DestinationRule document for host name using load balancer lb.
func dr(name, lb string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %s, namespace: default}
spec:
  host: %s.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: %s}}
`, name, name, lb)
}

func drNamed(name string) config.Key {
	return config.Key{Kind: schema.DestinationRule, Namespace: "default", Name: name}
}

func docs(d ...string) string { return strings.Join(d, "---\n") }

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

// A key defined by several files is LoadDir's last definition, on every sync, not only
// the first one.
func TestSyncDuplicateKeysLastDefinitionWins(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", dr("x", "ROUND_ROBIN"))
	write(t, dir, "b.yaml", docs(dr("x", "RANDOM"), dr("y", "RANDOM")))
	store := model.NewStore()
	src := NewSource(dir, Options{}, store, nil, logr.Discard())
	for i, edit := range []string{"RANDOM", "LEAST_REQUEST", "LEAST_REQUEST"} {
		write(t, dir, "b.yaml", docs(dr("x", "RANDOM"), dr("y", edit)))
		if _, err := src.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := store.Get(drNamed("x")); got == nil || !strings.Contains(got.Source, "b.yaml") {
			t.Errorf("sync %d: x = %v, want b.yaml's", i, got)
		}
		assertLikeLoadDir(t, dir, Options{}, src, store)
	}
}

// step is one change to a config directory and what re-reading the files its events name
// must report.
type step struct {
	name    string
	do      func(t *testing.T, dir string)
	batch   []string // the files the events named
	reads   int      // how many files must be read and parsed
	changed []string // names of the DestinationRules reported
	check   func(t *testing.T, src *Source, store *model.Store)
}

func put(name string, d ...string) func(*testing.T, string) {
	return func(t *testing.T, dir string) { write(t, dir, name, docs(d...)) }
}

func rm(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func mv(from, to string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdir(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, dir, filepath.Join(name, "inner.yaml"), dr("inner", "RANDOM"))
	}
}

// problemsIn checks that file has exactly n problems.
func problemsIn(file string, n int) func(*testing.T, *Source, *model.Store) {
	return func(t *testing.T, src *Source, _ *model.Store) {
		t.Helper()
		got := 0
		for _, p := range src.Problems() {
			if filepath.Base(p.File) == file {
				got++
			}
		}
		if got != n {
			t.Errorf("%d problems in %s, want %d: %v", got, file, n, src.Problems())
		}
	}
}

// holds checks that the store serves DestinationRule name with load balancer lb.
func holds(name, lb string) func(*testing.T, *Source, *model.Store) {
	return func(t *testing.T, _ *Source, store *model.Store) {
		t.Helper()
		want, _, err := parseDocument([]byte(dr(name, lb)), Options{DefaultNamespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		if got := store.Get(drNamed(name)); got == nil || !sameObject(got, want) {
			t.Errorf("store has %s = %v, want %s", name, got, lb)
		}
	}
}

func TestSyncFilesRereadsOnlyTheNamedFiles(t *testing.T) {
	base := map[string]string{
		"a.yaml":      docs(dr("a1", "ROUND_ROBIN"), dr("a2", "ROUND_ROBIN")),
		"c.yaml":      dr("c1", "ROUND_ROBIN"),
		"broken.yaml": docs(dr("ok", "RANDOM"), badDoc),
		"notes.txt":   badDoc,
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"edit one file of several", []step{
			{name: "edit a2", do: put("a.yaml", dr("a1", "ROUND_ROBIN"), dr("a2", "RANDOM")),
				batch: []string{"a.yaml"}, reads: 1, changed: []string{"a2"},
				check: problemsIn("broken.yaml", 1)},
			{name: "reformat", do: put("a.yaml", "# same\n"+dr("a1", "ROUND_ROBIN"), dr("a2", "RANDOM")),
				batch: []string{"a.yaml"}, reads: 1},
			{name: "edit both", do: put("a.yaml", dr("a1", "RANDOM"), dr("a2", "LEAST_REQUEST")),
				batch: []string{"a.yaml", "a.yaml"}, reads: 1, changed: []string{"a1", "a2"}},
		}},
		{"delete a file", []step{
			{name: "rm a", do: rm("a.yaml"), batch: []string{"a.yaml"}, changed: []string{"a1", "a2"},
				check: holds("c1", "ROUND_ROBIN")},
		}},
		{"add a file", []step{
			{name: "add d", do: put("d.yml", dr("d1", "RANDOM")), batch: []string{"d.yml"}, reads: 1, changed: []string{"d1"}},
		}},
		{"rename a file", []step{
			{name: "to z.yaml", do: mv("a.yaml", "z.yaml"), batch: []string{"a.yaml", "z.yaml"}, reads: 1},
			{name: "to z.bak", do: mv("z.yaml", "z.bak"), batch: []string{"z.yaml"}, changed: []string{"a1", "a2"}},
			{name: "back to a.yml", do: mv("z.bak", "a.yml"), batch: []string{"a.yml"}, reads: 1, changed: []string{"a1", "a2"}},
		}},
		{"move an object to a later file, destination written first", []step{
			{name: "add a2 to c", do: put("c.yaml", dr("c1", "ROUND_ROBIN"), dr("a2", "ROUND_ROBIN")),
				batch: []string{"c.yaml"}, reads: 1},
			{name: "drop a2 from a", do: put("a.yaml", dr("a1", "ROUND_ROBIN")),
				batch: []string{"a.yaml"}, reads: 1, check: holds("a2", "ROUND_ROBIN")},
		}},
		{"move an object to an earlier file, destination written first", []step{
			{name: "add c1 to a", do: put("a.yaml", dr("a1", "ROUND_ROBIN"), dr("a2", "ROUND_ROBIN"), dr("c1", "ROUND_ROBIN")),
				batch: []string{"a.yaml"}, reads: 1},
			{name: "drop c1 from c", do: put("c.yaml", dr("c2", "RANDOM")),
				batch: []string{"c.yaml"}, reads: 1, changed: []string{"c2"}, check: holds("c1", "ROUND_ROBIN")},
		}},
		{"move and edit an object, source written first", []step{
			{name: "drop a2 from a", do: put("a.yaml", dr("a1", "ROUND_ROBIN")),
				batch: []string{"a.yaml"}, reads: 1, changed: []string{"a2"}},
			{name: "add a2 to c", do: put("c.yaml", dr("c1", "ROUND_ROBIN"), dr("a2", "RANDOM")),
				batch: []string{"c.yaml"}, reads: 1, changed: []string{"a2"}, check: holds("a2", "RANDOM")},
		}},
		{"duplicate keys across files", []step{
			{name: "c redefines a1", do: put("c.yaml", dr("c1", "ROUND_ROBIN"), dr("a1", "RANDOM")),
				batch: []string{"c.yaml"}, reads: 1, changed: []string{"a1"}, check: holds("a1", "RANDOM")},
			{name: "edit the shadowed a1", do: put("a.yaml", dr("a1", "LEAST_REQUEST"), dr("a2", "ROUND_ROBIN")),
				batch: []string{"a.yaml"}, reads: 1, check: holds("a1", "RANDOM")},
			{name: "drop the winning a1", do: put("c.yaml", dr("c1", "ROUND_ROBIN")),
				batch: []string{"c.yaml"}, reads: 1, changed: []string{"a1"}, check: holds("a1", "LEAST_REQUEST")},
			{name: "redefine a1 twice in one file", do: put("c.yaml", dr("a1", "RANDOM"), dr("a1", "PASSTHROUGH"), dr("c1", "ROUND_ROBIN")),
				batch: []string{"c.yaml"}, reads: 1, changed: []string{"a1"}, check: holds("a1", "PASSTHROUGH")},
			{name: "remove the winning file", do: rm("c.yaml"),
				batch: []string{"c.yaml"}, changed: []string{"a1", "c1"}, check: holds("a1", "LEAST_REQUEST")},
		}},
		{"bad document in the edited file", []step{
			{name: "break a2, edit a1", do: put("a.yaml", dr("a1", "RANDOM"), badDoc),
				batch: []string{"a.yaml"}, reads: 1, changed: []string{"a1", "a2"},
				check: func(t *testing.T, src *Source, store *model.Store) {
					problemsIn("a.yaml", 1)(t, src, store)
					problemsIn("broken.yaml", 1)(t, src, store)
					holds("a1", "RANDOM")(t, src, store)
				}},
			{name: "fix a2", do: put("a.yaml", dr("a1", "RANDOM"), dr("a2", "ROUND_ROBIN")),
				batch: []string{"a.yaml"}, reads: 1, changed: []string{"a2"}, check: problemsIn("a.yaml", 0)},
			{name: "fix broken", do: put("broken.yaml", dr("ok", "RANDOM")),
				batch: []string{"broken.yaml"}, reads: 1, check: problemsIn("broken.yaml", 0)},
		}},
		{"names LoadDir does not read", []step{
			{name: "subdirectory", do: mkdir("sub.yaml"), batch: []string{"sub.yaml"}},
			{name: "other extension", do: put("notes.txt", dr("n", "RANDOM")), batch: []string{"notes.txt"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range base {
				write(t, dir, name, content)
			}
			store := model.NewStore()
			src := NewSource(dir, Options{}, store, nil, logr.Discard())
			if _, err := src.Sync(); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				s.do(t, dir)
				var paths []string
				for _, f := range s.batch {
					paths = append(paths, filepath.Join(dir, f))
				}
				before := src.filesRead.Load()
				changed := src.syncFiles(paths)
				if reads := src.filesRead.Load() - before; reads != int64(s.reads) {
					t.Errorf("%s: read %d files, want %d", s.name, reads, s.reads)
				}
				var want []config.Key
				for _, n := range s.changed {
					want = append(want, drNamed(n))
				}
				if got := keyNames(changed); got != keyNames(set(want...)) {
					t.Errorf("%s: changed %s, want %s", s.name, got, keyNames(set(want...)))
				}
				if s.check != nil {
					s.check(t, src, store)
				}
				assertLikeLoadDir(t, dir, Options{}, src, store)
			}
		})
	}
}

func TestSyncFilesHonoursSkip(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "mesh.yaml", badDoc)
	opts := Options{Skip: []string{filepath.Join(dir, "mesh.yaml")}}
	store := model.NewStore()
	src := NewSource(dir, opts, store, nil, logr.Discard())
	if _, err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "mesh.yaml", dr("m", "RANDOM"))
	if changed := src.syncFiles([]string{filepath.Join(dir, "mesh.yaml")}); len(changed) != 0 || src.filesRead.Load() != 0 {
		t.Errorf("skipped file read: changed %v", changed)
	}
	assertLikeLoadDir(t, dir, opts, src, store)
}

// Problems are by file name then document order whichever files were re-read.
func TestProblemsOrder(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.yaml", docs(badDoc, dr("b", "RANDOM"), badDoc))
	write(t, dir, "c.yaml", badDoc)
	store := model.NewStore()
	src := NewSource(dir, Options{}, store, nil, logr.Discard())
	if _, err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.yaml", docs(dr("a", "RANDOM"), badDoc))
	write(t, dir, "b.yaml", docs(badDoc, badDoc))
	src.syncFiles([]string{filepath.Join(dir, "b.yaml"), filepath.Join(dir, "a.yaml")})
	var got []string
	for _, p := range src.Problems() {
		got = append(got, fmt.Sprintf("%s#%d", filepath.Base(p.File), p.Document))
	}
	if want := "a.yaml#2 b.yaml#1 b.yaml#2 c.yaml#1"; strings.Join(got, " ") != want {
		t.Errorf("problems %v, want %s", got, want)
	}
	assertLikeLoadDir(t, dir, Options{}, src, store)
}

// TestWatchRereadsWhatTheEventsName drives Run's loop with events and a settle signal of
// its own, so that what each burst re-reads is deterministic.
func TestWatchRereadsWhatTheEventsName(t *testing.T) {
	ev := func(name string, op fsnotify.Op) fsnotify.Event { return fsnotify.Event{Name: name, Op: op} }
	cases := []struct {
		name    string
		events  func(dir string) []fsnotify.Event
		err     error
		reads   int // 3 is the whole directory
		changed []string
	}{
		{"one file", func(dir string) []fsnotify.Event {
			return []fsnotify.Event{ev(filepath.Join(dir, "a.yaml"), fsnotify.Write)}
		}, nil, 1, []string{"a"}},
		{"a burst on two files", func(dir string) []fsnotify.Event {
			a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
			return []fsnotify.Event{ev(a, fsnotify.Create), ev(a, fsnotify.Write), ev(b, fsnotify.Chmod), ev(a, fsnotify.Write)}
		}, nil, 2, []string{"a"}},
		{"files LoadDir does not read", func(dir string) []fsnotify.Event {
			return []fsnotify.Event{ev(filepath.Join(dir, ".a.yaml.swp"), fsnotify.Write), ev(filepath.Join(dir, "sub"), fsnotify.Create)}
		}, nil, 0, nil},
		{"lost events", nil, fsnotify.ErrEventOverflow, 3, []string{"a"}},
		{"the directory itself", func(dir string) []fsnotify.Event {
			return []fsnotify.Event{ev(dir, fsnotify.Rename)}
		}, nil, 3, []string{"a"}},
		{"a Kubernetes volume swap", func(dir string) []fsnotify.Event {
			return []fsnotify.Event{ev(filepath.Join(dir, "..data"), fsnotify.Create)}
		}, nil, 3, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "a.yaml", dr("a", "ROUND_ROBIN"))
			write(t, dir, "b.yaml", dr("b", "ROUND_ROBIN"))
			write(t, dir, "c.yaml", dr("c", "ROUND_ROBIN"))
			got := make(chan map[config.Key]struct{}, 10)
			src := NewSource(dir, Options{}, model.NewStore(), func(c map[config.Key]struct{}) { got <- c }, logr.Discard())
			if _, err := src.Sync(); err != nil {
				t.Fatal(err)
			}
			write(t, dir, "a.yaml", dr("a", "RANDOM"))
			before := src.filesRead.Load()

			events, errs, fire := make(chan fsnotify.Event), make(chan error), make(chan time.Time)
			armed := make(chan struct{}, 10)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				src.watch(ctx, events, errs, func() <-chan time.Time { armed <- struct{}{}; return fire })
			}()
			if tc.events != nil {
				for _, e := range tc.events(dir) {
					events <- e // unbuffered: the loop has taken it
				}
			}
			if tc.err != nil {
				errs <- tc.err
			}
			if tc.reads > 0 {
				select {
				case <-armed:
					fire <- time.Time{}
				case <-time.After(5 * time.Second):
					t.Error("the burst never started the settle timer")
				}
			}
			cancel()
			<-done // the loop applies a fired batch before it sees ctx end

			if n := len(armed); n != 0 {
				t.Errorf("settle timer started %d more times, want none", n)
			}
			if reads := src.filesRead.Load() - before; reads != int64(tc.reads) {
				t.Errorf("read %d files, want %d", reads, tc.reads)
			}
			var want []config.Key
			for _, n := range tc.changed {
				want = append(want, drNamed(n))
			}
			var changed map[config.Key]struct{}
			select {
			case changed = <-got:
			default:
			}
			if keyNames(changed) != keyNames(set(want...)) {
				t.Errorf("changed %s, want %s", keyNames(changed), keyNames(set(want...)))
			}
		})
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
	startRun(t, src)
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

// Through fsnotify: an edit re-reads that file only, and the untouched broken file's
// problem is still reported, once.
func TestRunRereadsOnlyTheEditedFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", docs(dr("a1", "ROUND_ROBIN"), dr("a2", "ROUND_ROBIN")))
	write(t, dir, "b.yaml", dr("b", "ROUND_ROBIN"))
	write(t, dir, "broken.yaml", badDoc)
	store := model.NewStore()
	got := make(chan map[config.Key]struct{}, 10)
	src := NewSource(dir, Options{}, store, func(c map[config.Key]struct{}) { got <- c }, logr.Discard())
	if _, err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	before := src.filesRead.Load()
	startRun(t, src)
	writeAtomic(t, dir, "a.yaml", docs(dr("a1", "ROUND_ROBIN"), dr("a2", "RANDOM")))
	select {
	case c := <-got:
		if want := keyNames(set(drNamed("a2"))); keyNames(c) != want {
			t.Errorf("changed %s, want %s", keyNames(c), want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported after editing a file")
	}
	if reads := src.filesRead.Load() - before; reads != 1 {
		t.Errorf("read %d files for one edit", reads)
	}
	problemsIn("broken.yaml", 1)(t, src, store)
	holds("a2", "RANDOM")(t, src, store)
}

// startRun runs src until the test ends and returns once it watches the directory.
func startRun(t *testing.T, src *Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	watching := make(chan struct{})
	src.watching = func() { close(watching) }
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Run(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-watching:
	case <-done:
		t.Fatal("Run ended before watching")
	}
}

// assertLikeLoadDir checks that src left store and its problems as LoadDir reads dir now:
// every object LoadDir returns (the last definition of a key) and nothing else, and the
// same problems in the same order.
func assertLikeLoadDir(t *testing.T, dir string, opts Options, src *Source, store *model.Store) {
	t.Helper()
	res, err := LoadDir(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[config.Key]*config.Config{}
	for _, c := range res.Configs {
		want[c.Key()] = c
	}
	if got, w := keyNames(set(store.Keys()...)), keyNames(set(keysOf(want)...)); got != w {
		t.Errorf("store holds %s, LoadDir %s", got, w)
	}
	for k, w := range want {
		if got := store.Get(k); got != nil && !sameObject(got, w) {
			t.Errorf("store's %v differs from LoadDir's (%s)", k, w.Source)
		}
	}
	if got, w := problemStrings(src.Problems()), problemStrings(res.Problems); got != w {
		t.Errorf("problems:\n%s\nLoadDir's:\n%s", got, w)
	}
}

func problemStrings(ps []Problem) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return strings.Join(out, "\n")
}

func keysOf(m map[config.Key]*config.Config) []config.Key {
	var out []config.Key
	for k := range m {
		out = append(out, k)
	}
	return out
}

func set(ks ...config.Key) map[config.Key]struct{} {
	m := map[config.Key]struct{}{}
	for _, k := range ks {
		m[k] = struct{}{}
	}
	return m
}

// keyNames renders a key set in a stable order, for comparisons and messages.
func keyNames(m map[config.Key]struct{}) string {
	var out []string
	for k := range m {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}

func has(m map[config.Key]struct{}, k config.Key) bool { _, ok := m[k]; return ok }

const benchFiles, benchPerFile = 50, 100

// serviceEntries is file f of the benchmark directory: benchPerFile ServiceEntries, the
// first one on port firstPort.
func serviceEntries(f, firstPort int) string {
	var b strings.Builder
	for i := 0; i < benchPerFile; i++ {
		port := 80
		if i == 0 {
			port = firstPort
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se-%d-%d, namespace: bench}
spec:
  hosts: [se-%d-%d.example.com]
  ports: [{number: %d, name: http, protocol: HTTP}]
  location: MESH_EXTERNAL
  resolution: DNS
`, f, i, f, i, port)
	}
	return b.String()
}

// benchSource writes the benchmark directory and syncs a source from it.
func benchSource(b *testing.B) (string, *Source) {
	dir := b.TempDir()
	for f := 0; f < benchFiles; f++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("se-%02d.yaml", f)), []byte(serviceEntries(f, 80)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	src := NewSource(dir, Options{}, model.NewStore(), func(map[config.Key]struct{}) {}, logr.Discard())
	changed, err := src.Sync()
	if err != nil || len(changed) != benchFiles*benchPerFile || len(src.Problems()) != 0 {
		b.Fatalf("sync: %d objects, %v, problems %v", len(changed), err, src.Problems())
	}
	return dir, src
}

// benchEdit changes one ServiceEntry of one file (a different one each i) and returns
// the file's path.
func benchEdit(b *testing.B, dir string, i int) string {
	f := i % benchFiles
	p := filepath.Join(dir, fmt.Sprintf("se-%02d.yaml", f))
	if err := os.WriteFile(p, []byte(serviceEntries(f, 1000+i)), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkEditOneFile is what Run pays for an edit to one file of 50 (5,000 objects).
func BenchmarkEditOneFile(b *testing.B) {
	dir, src := benchSource(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := benchEdit(b, dir, i)
		b.StartTimer()
		if changed := src.syncFiles([]string{p}); len(changed) != 1 {
			b.Fatalf("changed %d", len(changed))
		}
	}
}

// BenchmarkFullResync is the same edit re-read the way every event was before (and
// unattributable events still are): the whole directory.
func BenchmarkFullResync(b *testing.B) {
	dir, src := benchSource(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		benchEdit(b, dir, i)
		b.StartTimer()
		if changed, err := src.Sync(); err != nil || len(changed) != 1 {
			b.Fatalf("changed %d, %v", len(changed), err)
		}
	}
}

// TestSyncFilesParsesOnlyChangedDocuments edits documents of a multi-document file and
// checks that a re-read parses only the documents whose text or place changed, and that
// the store ends as LoadDir would load the directory.
func TestSyncFilesParsesOnlyChangedDocuments(t *testing.T) {
	dir := t.TempDir()
	a, b, c := dr("a", "ROUND_ROBIN"), dr("b", "ROUND_ROBIN"), dr("c", "ROUND_ROBIN")
	write(t, dir, "drs.yaml", docs(a, b, c))
	store := model.NewStore()
	src := NewSource(dir, Options{}, store, nil, logr.Discard())
	if _, err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		what    string
		content string
		parsed  int64
	}{
		{"the middle document edited", docs(a, dr("b", "LEAST_REQUEST"), c), 1},
		{"nothing changed", docs(a, dr("b", "LEAST_REQUEST"), c), 0},
		{"a document's lines added: those after it move, unparsed", docs(a+"# note\n", dr("b", "LEAST_REQUEST"), c), 1},
		{"a bad document, shorter: the one after it moves", docs(a+"# note\n", badDoc, c), 1},
		{"the bad document fixed", docs(a+"# note\n", b, c), 1},
		{"a bad document last", docs(a+"# note\n", b, badDoc), 1},
		{"lines added before it: its error's line moves", docs(a+"# note\n# more\n", b, badDoc), 2},
	} {
		write(t, dir, "drs.yaml", s.content)
		before := docsParsed.Load()
		src.syncFiles([]string{filepath.Join(dir, "drs.yaml")})
		if n := docsParsed.Load() - before; n != s.parsed {
			t.Errorf("%s: parsed %d documents, want %d", s.what, n, s.parsed)
		}
		assertLikeLoadDir(t, dir, Options{}, src, store)
	}
}
