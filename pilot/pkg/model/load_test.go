package model_test

import (
	"path/filepath"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// loadConfigs reads a case directory's objects.
func loadConfigs(dir string) ([]*config.Config, error) {
	res, err := file.LoadDir(dir, file.Options{Skip: []string{filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "mesh.yaml")}})
	if err != nil {
		return nil, err
	}
	return res.Configs, nil
}
