package file

import (
	"context"
	"reflect"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// Source keeps a Store in line with a config directory: a Sync loads the directory,
// writes what changed to the store and reports the changed keys. Run re-syncs on every
// change to the directory (edits, adds, deletes), without restart.
type Source struct {
	dir      string
	opts     Options
	store    *model.Store
	onChange func(changed map[config.Key]struct{})
	log      logr.Logger

	current map[config.Key]*config.Config
	// problems are the last sync's problems, for /debug.
	problems []Problem
}

// NewSource returns a source for dir writing to store; onChange receives the keys of
// every object added, changed or removed by a sync.
func NewSource(dir string, opts Options, store *model.Store, onChange func(map[config.Key]struct{}), log logr.Logger) *Source {
	return &Source{dir: dir, opts: opts, store: store, onChange: onChange, log: log, current: map[config.Key]*config.Config{}}
}

// Problems returns the documents the last sync could not use.
func (s *Source) Problems() []Problem { return s.problems }

// Sync loads the directory once and applies the differences to the store.
func (s *Source) Sync() (map[config.Key]struct{}, error) {
	res, err := LoadDir(s.dir, s.opts)
	if err != nil {
		return nil, err
	}
	s.problems = res.Problems
	for _, p := range res.Problems {
		if p.Warning {
			s.log.Info("config warning", "problem", p.Error())
		} else {
			s.log.Error(p.Err, "config rejected", "file", p.File, "document", p.Document, "object", p.Object)
		}
	}
	next := make(map[config.Key]*config.Config, len(res.Configs))
	changed := map[config.Key]struct{}{}
	for _, c := range res.Configs {
		k := c.Key()
		next[k] = c
		if old, ok := s.current[k]; ok && sameObject(old, c) {
			next[k] = old
			continue
		}
		s.store.Set(c)
		changed[k] = struct{}{}
	}
	for k := range s.current {
		if _, ok := next[k]; !ok {
			s.store.Delete(k)
			changed[k] = struct{}{}
		}
	}
	s.current = next
	return changed, nil
}

// sameObject reports whether two versions of an object are equal in everything the mesh
// reads: labels, annotations and spec.
func sameObject(a, b *config.Config) bool {
	if !reflect.DeepEqual(a.Labels, b.Labels) || !reflect.DeepEqual(a.Annotations, b.Annotations) {
		return false
	}
	if pa, ok := a.Spec.(proto.Message); ok {
		pb, ok := b.Spec.(proto.Message)
		return ok && proto.Equal(pa, pb)
	}
	return reflect.DeepEqual(a.Spec, b.Spec)
}

// Run watches the directory until ctx ends, syncing after each burst of file events
// (coalesced over settle).
func (s *Source) Run(ctx context.Context, settle time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(s.dir); err != nil {
		return err
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			s.log.V(2).Info("config dir event", "event", ev.String())
			if timer == nil {
				timer = time.After(settle)
			}
		case err := <-w.Errors:
			s.log.Error(err, "config dir watch")
		case <-timer:
			timer = nil
			changed, err := s.Sync()
			if err != nil {
				s.log.Error(err, "config dir sync")
				continue
			}
			if len(changed) > 0 {
				s.log.Info("config dir changed", "objects", len(changed))
				s.onChange(changed)
			}
		}
	}
}
