package validation

import (
	"github.com/sextant-mesh/sextant/pkg/config"
)

// Validate checks c against istiod's rules for its kind. It returns warnings (accepted
// but suspicious) and an error listing every violation, each naming the field.
func Validate(c *config.Config) (warnings []string, err error) {
	v := validators[c.Kind]
	if v == nil {
		return nil, nil
	}
	return v(c)
}

type validator func(c *config.Config) ([]string, error)

// validators maps kinds to their rules; kinds without an entry are accepted as decoded.
var validators = map[config.Kind]validator{}
