package model

import (
	"sort"
	"sync"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// Store holds the current configuration objects of every kind, keyed by config.Key. It is
// safe for concurrent use. Objects handed to it must not be altered afterwards; readers get
// the same pointers and must not alter them either.
type Store struct {
	mu      sync.RWMutex
	objects map[config.Kind]map[config.Key]*config.Config
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{objects: map[config.Kind]map[config.Key]*config.Config{}}
}

// Set adds or replaces c and reports whether anything changed (a different object).
func (s *Store) Set(c *config.Config) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.objects[c.Kind]
	if m == nil {
		m = map[config.Key]*config.Config{}
		s.objects[c.Kind] = m
	}
	k := c.Key()
	if old, ok := m[k]; ok && old == c {
		return false
	}
	m[k] = c
	return true
}

// Delete removes the object with key k and reports whether it existed.
func (s *Store) Delete(k config.Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.objects[k.Kind]
	if _, ok := m[k]; !ok {
		return false
	}
	delete(m, k)
	return true
}

// Get returns the object with key k, or nil.
func (s *Store) Get(k config.Key) *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objects[k.Kind][k]
}

// List returns the objects of kind k in namespace ns ("" for all), in SortConfigs order,
// so that everything derived from a listing is deterministic.
func (s *Store) List(k config.Kind, ns string) []*config.Config {
	s.mu.RLock()
	out := make([]*config.Config, 0, len(s.objects[k]))
	for key, c := range s.objects[k] {
		if ns == "" || key.Namespace == ns {
			out = append(out, c)
		}
	}
	s.mu.RUnlock()
	SortConfigs(out)
	return out
}

// Keys returns the keys of every object in the store.
func (s *Store) Keys() []config.Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []config.Key
	for _, m := range s.objects {
		for k := range m {
			out = append(out, k)
		}
	}
	return out
}

// SortConfigs orders configs as istiod does where order decides precedence: oldest first,
// then by name, then by namespace.
func SortConfigs(cs []*config.Config) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
			return a.CreationTimestamp.Before(b.CreationTimestamp)
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Namespace < b.Namespace
	})
}
