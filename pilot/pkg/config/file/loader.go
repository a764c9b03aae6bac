package file

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/config/validation"
)

// Problem is one document that could not be used, or was used with a warning.
type Problem struct {
	File     string
	Document int // 1-based index of the document in the file
	// Object is "Kind namespace/name" when the document got that far.
	Object  string
	Err     error
	Warning bool
}

func (p Problem) Error() string {
	loc := fmt.Sprintf("%s#%d", p.File, p.Document)
	if p.Object != "" {
		loc += " " + p.Object
	}
	if p.Warning {
		return loc + ": warning: " + p.Err.Error()
	}
	return loc + ": " + p.Err.Error()
}

// Result is what a load produced: the usable configs and the problems.
type Result struct {
	Configs  []*config.Config
	Problems []Problem
}

// Errors returns the problems that made a document unusable.
func (r *Result) Errors() []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Options tune a load.
type Options struct {
	// Skip lists file paths not to read (the proxy and mesh files of a case directory).
	Skip []string
	// DefaultNamespace is given to namespaced objects without one ("default").
	DefaultNamespace string
}

// LoadDir reads every *.yaml and *.yml file directly in dir, in name order. It does not
// descend into subdirectories.
func LoadDir(dir string, opts Options) (*Result, error) {
	files, err := listFiles(dir, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, f := range files {
		r, _ := loadFile(f, opts, nil)
		res.add(r)
	}
	return res, nil
}

// listFiles returns the paths of the files LoadDir reads in dir, sorted.
func listFiles(dir string, opts Options) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	skip := skipSet(opts)
	var files []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !e.IsDir() && isConfigFile(p, skip) {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	return files, nil
}

// skipSet returns the absolute paths of opts.Skip.
func skipSet(opts Options) map[string]bool {
	skip := map[string]bool{}
	for _, s := range opts.Skip {
		if abs, err := filepath.Abs(s); err == nil {
			skip[abs] = true
		}
	}
	return skip
}

// isConfigFile reports whether LoadDir reads the (non-directory) file at path: a YAML
// extension and not skipped.
func isConfigFile(path string, skip map[string]bool) bool {
	if !hasYAMLExt(path) {
		return false
	}
	abs, err := filepath.Abs(path)
	return err != nil || !skip[abs]
}

func hasYAMLExt(path string) bool {
	ext := filepath.Ext(path)
	return ext == ".yaml" || ext == ".yml"
}

// loadFile reads and parses one file; a file that cannot be read is one problem. Parses
// of documents found in prev, at the same place, are reused; the returned docs are this
// read's, for the next.
func loadFile(path string, opts Options, prev parsedDocs) (*Result, parsedDocs) {
	b, err := os.ReadFile(path)
	if err != nil {
		return &Result{Problems: []Problem{{File: path, Err: err}}}, nil
	}
	return parseFile(path, b, opts, prev)
}

func (r *Result) add(o *Result) {
	r.Configs = append(r.Configs, o.Configs...)
	r.Problems = append(r.Problems, o.Problems...)
}

var separator = regexp.MustCompile(`(?m)^---\s*$`)

// ParseFile decodes and validates every document of one file.
func ParseFile(name string, data []byte, opts Options) *Result {
	res, _ := parseFile(name, data, opts, nil)
	return res
}

// parsedDoc is one document's parse: its object (when it got that far), warnings and
// error, with lines counted in the file; sum (SHA-256 of its text) and start (the line it
// starts on, which the parse's Source and problems name) identify the document.
type parsedDoc struct {
	sum      [sha256.Size]byte
	start    int
	c        *config.Config
	warnings []string
	err      error
}

// parsedDocs are the parses of a file's documents, by index (blank ones are zero).
// Objects are immutable once parsed, so a document unchanged since the last read gives
// the same object, parsed once: an edit of one object in a file of hundreds re-parses
// that one.
type parsedDocs []parsedDoc

// docsParsed counts the documents parsed, so that tests can see which were.
var docsParsed atomic.Int64

// parseFile is ParseFile reusing the parses in prev; it returns this parse's docs.
func parseFile(name string, data []byte, opts Options, prev parsedDocs) (*Result, parsedDocs) {
	res := &Result{}
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = "default"
	}
	docs := separator.Split(string(data), -1)
	parsed := make(parsedDocs, len(docs))
	line := 1 // the file line each document starts on
	for i, doc := range docs {
		start := line
		line += strings.Count(doc, "\n") + 1
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		sum := sha256.Sum256([]byte(doc))
		d := &parsed[i]
		// A document is parsed again only when its text changed, or when it moved and
		// its error names a line of the file.
		if i < len(prev) && prev[i].sum == sum && (prev[i].start == start || prev[i].err == nil) {
			*d = prev[i]
			d.start = start
		} else {
			docsParsed.Add(1)
			d.sum, d.start = sum, start
			d.c, d.warnings, d.err = parseDocument([]byte(doc), opts)
			d.err = fileLines(d.err, start)
			if d.c != nil && d.c.Name != "" {
				d.c.Source = fmt.Sprintf("%s#%d", name, i+1)
			}
		}
		p := Problem{File: name, Document: i + 1}
		if d.c != nil && d.c.Name != "" {
			p.Object = d.c.String()
		}
		for _, w := range d.warnings {
			wp := p
			wp.Err, wp.Warning = fmt.Errorf("%s", w), true
			res.Problems = append(res.Problems, wp)
		}
		if d.err != nil {
			p.Err = d.err
			res.Problems = append(res.Problems, p)
			continue
		}
		res.Configs = append(res.Configs, d.c)
	}
	return res, parsed
}

var yamlLine = regexp.MustCompile(`yaml: line (\d+):`)

// fileLines rewrites a YAML error's document-relative line into the file's line.
func fileLines(err error, start int) error {
	if err == nil {
		return nil
	}
	msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		return fmt.Sprintf("yaml: line %d:", n+start-1)
	})
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

func stripComments(doc string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func parseDocument(doc []byte, opts Options) (*config.Config, []string, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("malformed YAML: %w", err)
	}
	c, err := schema.Decode(js)
	if err != nil {
		return c, nil, err
	}
	if s := schema.ByKind(c.Kind); s.Namespaced && c.Namespace == "" {
		c.Namespace = opts.DefaultNamespace
		setObjectNamespace(c)
	}
	warnings, err := validation.Validate(c)
	if err != nil {
		return c, warnings, err
	}
	return c, warnings, nil
}
