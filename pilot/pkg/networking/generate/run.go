package generate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// Request names the inputs of an offline generation.
type Request struct {
	ConfigDir string
	ProxyFile string
	MeshFile  string // optional
	Options   model.Options
}

// Result is an offline generation's output and the input problems met on the way.
type Result struct {
	Output   *Output
	Problems []file.Problem
	Push     *model.PushContext
	Proxy    *model.Proxy
}

// Loaded is an indexed config directory and the proxy to generate for.
type Loaded struct {
	Push     *model.PushContext
	Proxy    *model.Proxy
	Spec     *ProxySpec
	Problems []file.Problem
}

// Load reads the config directory and mesh config, indexes them and initializes the
// proxy. Unusable documents are reported in Problems and skipped; only unreadable inputs
// (missing directory, bad proxy or mesh file) are errors.
func Load(req Request) (*Loaded, error) {
	if req.Options.DomainSuffix == "" {
		req.Options = model.DefaultOptions()
	}
	spec, err := LoadProxySpec(req.ProxyFile)
	if err != nil {
		return nil, err
	}
	meshConfig, err := mesh.Load(req.MeshFile)
	if err != nil {
		return nil, err
	}
	loaded, err := file.LoadDir(req.ConfigDir, file.Options{Skip: []string{req.ProxyFile, req.MeshFile}})
	if err != nil {
		return nil, err
	}
	store := model.NewStoreFor(req.Options, meshConfig.GetTrustDomain())
	for _, c := range loaded.Configs {
		store.Set(c)
	}
	pc := model.NewPushContext(store, meshConfig, req.Options)
	p, err := spec.Proxy()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.ProxyFile, err)
	}
	pc.InitProxy(p)
	return &Loaded{Push: pc, Proxy: p, Spec: spec, Problems: loaded.Problems}, nil
}

// Run loads the inputs and generates for the proxy.
func Run(req Request) (*Result, error) {
	l, err := Load(req)
	if err != nil {
		return nil, err
	}
	return &Result{Output: ForProxy(l.Push, l.Proxy, l.Spec.Listeners), Problems: l.Problems, Push: l.Push, Proxy: l.Proxy}, nil
}

// CaseRequest names the inputs of a case directory: DIR/proxy.yaml, and DIR/mesh.yaml
// when present.
func CaseRequest(dir string) Request {
	req := Request{ConfigDir: dir, ProxyFile: filepath.Join(dir, "proxy.yaml")}
	if st, err := os.Stat(filepath.Join(dir, "mesh.yaml")); err == nil && !st.IsDir() {
		req.MeshFile = filepath.Join(dir, "mesh.yaml")
	}
	return req
}

// JSON renders the output as ../shared/oracle does: each resource in protojson with proto
// field names, plus the sorted names of each type.
func (o *Output) JSON() ([]byte, error) {
	type doc struct {
		Clusters  []json.RawMessage   `json:"clusters"`
		Listeners []json.RawMessage   `json:"listeners"`
		Routes    []json.RawMessage   `json:"routes"`
		Endpoints []json.RawMessage   `json:"endpoints"`
		Names     map[string][]string `json:"names"`
	}
	d := doc{Names: map[string][]string{}}
	var err error
	add := func(dst *[]json.RawMessage, kind, name string, m proto.Message) {
		b, e := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if e != nil && err == nil {
			err = e
		}
		*dst = append(*dst, b)
		d.Names[kind] = append(d.Names[kind], name)
	}
	for _, c := range o.Clusters {
		add(&d.Clusters, "clusters", c.GetName(), c)
	}
	for _, l := range o.Listeners {
		add(&d.Listeners, "listeners", l.GetName(), l)
	}
	for _, r := range o.Routes {
		add(&d.Routes, "routes", r.GetName(), r)
	}
	for _, e := range o.Endpoints {
		add(&d.Endpoints, "endpoints", e.GetClusterName(), e)
	}
	for _, v := range d.Names {
		sort.Strings(v)
	}
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
