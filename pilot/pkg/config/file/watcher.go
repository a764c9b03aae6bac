package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// Source keeps a Store in line with a config directory: Sync loads the whole directory,
// writes what changed to the store and reports the changed keys. Run then re-reads only
// the files named by each burst of file events (edits, adds, deletes, renames), without
// restart, and falls back to a whole Sync when events cannot be tied to files. A file read
// again parses only its documents whose text or place changed; the others keep their
// objects.
//
// Either way the store holds what LoadDir returns, with LoadDir's rule for a key defined
// more than once: the last definition in file-name order, then document order, wins.
//
// Syncs are serialised, so Sync may be called while Run runs; Problems is safe to call
// at any time.
type Source struct {
	dir      string
	opts     Options
	store    *model.Store
	onChange func(changed map[config.Key]struct{})
	log      logr.Logger

	mu sync.Mutex // serialises syncs; guards the fields up to problems
	// files is what each file produced when last read, by path.
	files map[string]*fileState
	// owners lists, for each key, the files defining it in name order; the last one wins.
	owners map[config.Key][]string
	// current is what this source last wrote to the store for each key.
	current map[config.Key]*config.Config

	// problems is every file's problems, merged, for /debug.
	problems atomic.Pointer[[]Problem]

	// filesRead counts the files read and parsed, so that tests can see which were.
	filesRead atomic.Int64
	// watching, when set, is called once Run watches the directory (for tests).
	watching func()
}

// fileState is what one read of one file produced.
type fileState struct {
	// configs holds, for each key the file defines, its last document defining it.
	configs  map[config.Key]*config.Config
	problems []Problem
	// docs are the file's parsed documents, reused by the next read.
	docs parsedDocs
}

// NewSource returns a source for dir writing to store; onChange receives the keys of
// every object added, changed or removed by a sync.
func NewSource(dir string, opts Options, store *model.Store, onChange func(map[config.Key]struct{}), log logr.Logger) *Source {
	return &Source{
		dir: dir, opts: opts, store: store, onChange: onChange, log: log,
		files: map[string]*fileState{}, owners: map[config.Key][]string{}, current: map[config.Key]*config.Config{},
	}
}

// Problems returns the documents of the directory that are currently unusable or used
// with a warning, by file name then document order. The slice must not be altered.
func (s *Source) Problems() []Problem {
	if p := s.problems.Load(); p != nil {
		return *p
	}
	return nil
}

// Sync loads the whole directory and applies the differences to the store. On error
// (the directory cannot be listed) nothing changes.
func (s *Source) Sync() (map[config.Key]struct{}, error) {
	paths, err := listFiles(s.dir, s.opts)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.files
	s.files = make(map[string]*fileState, len(paths))
	s.owners = map[config.Key][]string{}
	for _, p := range paths { // sorted, so every owners list comes out in name order
		st := s.read(p, before[p])
		s.files[p] = st
		for k := range st.configs {
			s.owners[k] = append(s.owners[k], p)
		}
	}
	changed := map[config.Key]struct{}{}
	for k := range s.owners {
		s.reconcile(k, changed)
	}
	for k := range s.current {
		if _, ok := s.owners[k]; !ok {
			s.reconcile(k, changed)
		}
	}
	s.publishProblems()
	return changed, nil
}

// syncFiles re-reads the files at paths (in the directory; present, changed or gone) and
// applies what changed in them to the store. Run calls it for each burst of events.
func (s *Source) syncFiles(paths []string) map[config.Key]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	skip := skipSet(s.opts)
	touched := map[config.Key]struct{}{}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		// The same path spelling as Sync's, so that both key s.files alike.
		if p = filepath.Join(s.dir, filepath.Base(p)); seen[p] {
			continue
		}
		seen[p] = true
		var st *fileState
		if listed(p, skip) {
			st = s.read(p, s.files[p])
		}
		s.replaceFile(p, st, touched)
	}
	changed := map[config.Key]struct{}{}
	for k := range touched {
		s.reconcile(k, changed)
	}
	s.publishProblems()
	return changed
}

// listed reports whether LoadDir would read path now: it exists, is not a directory
// (LoadDir does not descend) and passes isConfigFile.
func listed(path string, skip map[string]bool) bool {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return false
	}
	// Any other error is left for the read to report as the file's problem.
	return isConfigFile(path, skip)
}

// read loads one file, logging its problems; the documents of last (the file's last
// state, or nil) are not parsed again.
func (s *Source) read(path string, last *fileState) *fileState {
	s.filesRead.Add(1)
	var prev parsedDocs
	if last != nil {
		prev = last.docs
	}
	res, docs := loadFile(path, s.opts, prev)
	st := &fileState{configs: make(map[config.Key]*config.Config, len(res.Configs)), problems: res.Problems, docs: docs}
	for _, c := range res.Configs {
		st.configs[c.Key()] = c
	}
	for _, p := range res.Problems {
		if p.Warning {
			s.log.Info("config warning", "problem", p.Error())
		} else {
			s.log.Error(p.Err, "config rejected", "file", p.File, "document", p.Document, "object", p.Object)
		}
	}
	return st
}

// replaceFile records st as path's state (nil: the file is gone), adding every key the
// file defined before or defines now to touched.
func (s *Source) replaceFile(path string, st *fileState, touched map[config.Key]struct{}) {
	if old := s.files[path]; old != nil {
		for k := range old.configs {
			touched[k] = struct{}{}
			o := s.owners[k]
			if i, ok := slices.BinarySearch(o, path); ok {
				o = slices.Delete(o, i, i+1)
			}
			if len(o) == 0 {
				delete(s.owners, k)
			} else {
				s.owners[k] = o
			}
		}
		delete(s.files, path)
	}
	if st == nil {
		return
	}
	s.files[path] = st
	for k := range st.configs {
		touched[k] = struct{}{}
		o := s.owners[k]
		if i, ok := slices.BinarySearch(o, path); !ok {
			s.owners[k] = slices.Insert(o, i, path)
		}
	}
}

// reconcile brings the store's object for k in line with the files, adding k to changed
// when it had to write or delete.
func (s *Source) reconcile(k config.Key, changed map[config.Key]struct{}) {
	var want *config.Config
	if o := s.owners[k]; len(o) > 0 {
		want = s.files[o[len(o)-1]].configs[k]
	}
	old, had := s.current[k]
	switch {
	case want == nil && !had:
		return
	case want == nil:
		delete(s.current, k)
		s.store.Delete(k)
	case had && sameObject(old, want):
		// Keep the stored pointer: the store and its readers tell changes by identity.
		return
	default:
		s.current[k] = want
		s.store.Set(want)
	}
	changed[k] = struct{}{}
}

// publishProblems merges the files' problems, by file name then document order (LoadDir's).
func (s *Source) publishProblems() {
	var names []string
	for p, st := range s.files {
		if len(st.problems) > 0 {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	var all []Problem
	for _, n := range names {
		all = append(all, s.files[n].problems...)
	}
	s.problems.Store(&all)
}

// sameObject reports whether two versions of an object are equal in everything the mesh
// reads: labels, annotations and spec.
func sameObject(a, b *config.Config) bool {
	if a == b {
		return true
	}
	if !reflect.DeepEqual(a.Labels, b.Labels) || !reflect.DeepEqual(a.Annotations, b.Annotations) {
		return false
	}
	if pa, ok := a.Spec.(proto.Message); ok {
		pb, ok := b.Spec.(proto.Message)
		return ok && proto.Equal(pa, pb)
	}
	return reflect.DeepEqual(a.Spec, b.Spec)
}

// Run watches the directory until ctx ends. After each burst of file events (coalesced
// over settle) it re-reads the files the events named, or the whole directory when it
// cannot tell which files changed, and passes the changed keys to onChange.
func (s *Source) Run(ctx context.Context, settle time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(s.dir); err != nil {
		return err
	}
	if s.watching != nil {
		s.watching()
	}
	s.watch(ctx, w.Events, w.Errors, func() <-chan time.Time { return time.After(settle) })
	return nil
}

// watch is Run's loop over the watcher's channels; settled returns a channel that fires
// when a burst has settled. Apart from Run so that tests can drive it.
func (s *Source) watch(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error, settled func() <-chan time.Time) {
	var timer <-chan time.Time
	b := &batch{}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			s.log.V(2).Info("config dir event", "event", ev.String())
			if !b.add(s.dir, ev) {
				continue
			}
		case err, ok := <-errs:
			if !ok {
				return
			}
			// Lost events (fsnotify.ErrEventOverflow) or a failing watch: which files
			// changed is unknown.
			s.log.Error(err, "config dir watch; re-reading the whole directory")
			b.all = true
		case <-timer:
			timer = nil
			s.apply(b)
			b = &batch{}
			continue
		}
		if timer == nil {
			timer = settled()
		}
	}
}

// apply re-reads what a settled batch asks for and reports the changes.
func (s *Source) apply(b *batch) {
	var changed map[config.Key]struct{}
	if b.all {
		var err error
		if changed, err = s.Sync(); err != nil {
			s.log.Error(err, "config dir sync")
			return
		}
	} else {
		changed = s.syncFiles(b.paths())
	}
	if len(changed) > 0 {
		s.log.Info("config dir changed", "objects", len(changed), "files", len(b.files), "full", b.all)
		s.onChange(changed)
	}
}

// batch is what a burst of events asks to re-read.
type batch struct {
	files map[string]struct{}
	// all is set when an event could not be tied to files: re-read the whole directory.
	all bool
}

// add records ev, reporting whether it asks for any work.
func (b *batch) add(dir string, ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	switch base := filepath.Base(name); {
	case filepath.Dir(name) != filepath.Clean(dir):
		// The directory itself was removed or moved, or a path outside it: unknown.
		b.all = true
	case strings.HasPrefix(base, ".."):
		// Kubernetes' atomic writer (ConfigMap, Secret and projected volumes) swaps a
		// "..data" symlink that the YAML files point through: they get no events of their own.
		b.all = true
	case !hasYAMLExt(name):
		// Not a file LoadDir reads (editor swap files, temporary files, subdirectories).
		return false
	default:
		// Any operation: a Chmod can make an unreadable file readable.
		if b.files == nil {
			b.files = map[string]struct{}{}
		}
		b.files[name] = struct{}{}
	}
	return true
}

// paths returns the files to re-read, sorted.
func (b *batch) paths() []string {
	out := make([]string, 0, len(b.files))
	for p := range b.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
