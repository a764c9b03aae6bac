// Package bootstrap wires Sextant together: options in, a running discovery server out.
// It loads mesh config, starts the config sources feeding the Store, the ADS server with
// the generators, the debug and monitoring endpoints, and shuts them down gracefully. It is
// the only package that knows all the others.
package bootstrap
