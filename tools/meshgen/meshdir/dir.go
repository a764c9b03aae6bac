package meshdir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// Dir is a config directory written by Write. It is not safe for concurrent use.
type Dir struct {
	// Path is the directory.
	Path string
	// files maps a file name to the keys it holds, in write order; byKind lists each
	// kind's keys in write order.
	files   map[string][]config.Key
	byKind  map[config.Kind][]config.Key
	configs map[config.Key]*config.Config
	// yaml is each object's document: an Update marshals the object it replaces only, so
	// that rewriting a file of hundreds of objects takes a copy, not their marshalling
	// (which load runs would otherwise count in the edit's time).
	yaml map[config.Key][]byte
}

// FileName is the file an object goes to: the lower-case kind and namespace
// ("virtualservice-ns-001.yaml"; "namespace.yaml" for cluster-scoped objects). One file
// per kind and namespace keeps an edit's re-read small, as a config repository with a
// directory per team would.
func FileName(k config.Kind, namespace string) string {
	if namespace == "" {
		return strings.ToLower(k.Kind) + ".yaml"
	}
	return strings.ToLower(k.Kind) + "-" + namespace + ".yaml"
}

// Write renders configs into dir (created if missing), one file per kind and namespace,
// objects in the order given. Existing files of those names are replaced; other files are left alone.
func Write(dir string, configs []*config.Config) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &Dir{Path: dir, files: map[string][]config.Key{}, byKind: map[config.Kind][]config.Key{}, configs: map[config.Key]*config.Config{}, yaml: map[config.Key][]byte{}}
	for _, c := range configs {
		k := c.Key()
		if _, dup := d.configs[k]; dup {
			return nil, fmt.Errorf("%s: written twice", k)
		}
		f := FileName(c.Kind, c.Namespace)
		d.files[f] = append(d.files[f], k)
		d.byKind[c.Kind] = append(d.byKind[c.Kind], k)
		d.configs[k] = c
	}
	names := make([]string, 0, len(d.files))
	for f := range d.files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if err := d.writeFile(f); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Get returns the object written under k, or nil. It must not be altered: Update with a
// copy instead.
func (d *Dir) Get(k config.Key) *config.Config { return d.configs[k] }

// Keys returns the keys of the objects of kind k, in write order.
func (d *Dir) Keys(k config.Kind) []config.Key {
	return append([]config.Key(nil), d.byKind[k]...)
}

// Update replaces the object with c's key (which must have been written) and rewrites its
// file atomically: a watcher sees the old file or the new one, never a partial one.
func (d *Dir) Update(c *config.Config) error {
	k := c.Key()
	if _, ok := d.configs[k]; !ok {
		return fmt.Errorf("%s: not in %s", k, d.Path)
	}
	y, err := Marshal(c)
	if err != nil {
		return err
	}
	d.configs[k], d.yaml[k] = c, y
	return d.writeFile(FileName(c.Kind, c.Namespace))
}

func (d *Dir) writeFile(name string) error {
	var b bytes.Buffer
	for i, k := range d.files[name] {
		y := d.yaml[k]
		if y == nil {
			var err error
			if y, err = Marshal(d.configs[k]); err != nil {
				return err
			}
			d.yaml[k] = y
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return writeAtomic(filepath.Join(d.Path, name), b.Bytes())
}

// writeAtomic writes through a hidden temporary file (no .yaml suffix, so loaders skip it)
// renamed over path.
func writeAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
