package validation

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Header name syntaxes. tchar is RFC 7230's token character set.
var (
	headerNameRE       = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~A-Za-z0-9]+$")
	strictHeaderNameRE = regexp.MustCompile("^[-_A-Za-z0-9]+$")
	probeHeaderNameRE  = regexp.MustCompile("^[-A-Za-z0-9]+$")
	// Header values may not hold control characters other than tab.
	headerValueRE = regexp.MustCompile("^[^\u0000-\u0008\u000A-\u001F\u007F]*$")
)

// pseudoHeaders are the HTTP/2 pseudo headers a route may match on.
var pseudoHeaders = map[string]bool{":method": true, ":scheme": true, ":authority": true, ":path": true, ":status": true}

// jwtClaimPrefix starts a header name that matches a JWT claim on gateways
// ("@request.auth.claims.groups" or "@request.auth.claims[groups]").
const jwtClaimPrefix = "@request.auth.claims"

// isJWTClaimHeader reports whether name is a JWT claim reference rather than a header.
func isJWTClaimHeader(name string) bool {
	if !strings.HasPrefix(strings.ToLower(name), jwtClaimPrefix) {
		return false
	}
	rest := name[len(jwtClaimPrefix):]
	return strings.HasPrefix(rest, ".") && len(rest) > 1 ||
		strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") && len(rest) > 2
}

// checkMatchHeaderName checks the name of a header a route matches on: a header, a
// pseudo header or a JWT claim reference.
func checkMatchHeaderName(name string) error {
	switch {
	case name == "":
		return errors.New("header name cannot be empty")
	case isJWTClaimHeader(name), pseudoHeaders[name]:
		return nil
	case !headerNameRE.MatchString(name):
		return fmt.Errorf("header name %s is not a valid header name", name)
	}
	return nil
}

// checkStrictHeaderName checks a header name Istio writes itself (JWT claim output).
func checkStrictHeaderName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if !strictHeaderNameRE.MatchString(name) {
		return fmt.Errorf("header name %s is not a valid header name", name)
	}
	return nil
}

// checkProbeHeaderName checks a header name of an HTTP probe, as Kubernetes does.
func checkProbeHeaderName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if !probeHeaderNameRE.MatchString(name) {
		return fmt.Errorf("header name %s is not a valid header name", name)
	}
	return nil
}

// checkCORSHeaderName checks a header name in a CORS policy, where "*" is allowed.
func checkCORSHeaderName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if name != "*" && !headerNameRE.MatchString(name) {
		return fmt.Errorf("header name %s is not a valid header name", name)
	}
	return nil
}

func isPseudoOrHost(name string) bool {
	return strings.HasPrefix(name, ":") || strings.EqualFold(name, "host")
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}

// checkRequestSetHeaderName checks a request header to add or set: no pseudo headers,
// except the authority (":authority" or "host"), which rewrites the authority.
func checkRequestSetHeaderName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if isPseudoOrHost(name) && !isAuthorityHeader(name) {
		return fmt.Errorf(`invalid header %q: header cannot have ":" prefix`, name)
	}
	return nil
}

// checkHeaderOperationName checks a request header to remove or a response header to
// add, set or remove: neither Host nor a pseudo header.
func checkHeaderOperationName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if strings.EqualFold(name, "host") {
		return fmt.Errorf(`invalid header %q: cannot set Host header`, name)
	}
	if isPseudoOrHost(name) {
		return fmt.Errorf(`invalid header %q: header cannot have ":" prefix`, name)
	}
	return nil
}

// checkHeaderOperations checks the header manipulation of a route or destination at p.
func checkHeaderOperations(r *report, p path, h *networkingv1alpha3.Headers) {
	if h == nil {
		return
	}
	req, resp := p.field("request"), p.field("response")
	checkHeaderSets(r, req.field("set"), h.GetRequest().GetSet(), checkRequestSetHeaderName)
	checkHeaderSets(r, req.field("add"), h.GetRequest().GetAdd(), checkRequestSetHeaderName)
	for i, name := range h.GetRequest().GetRemove() {
		r.add(req.field("remove").index(i), checkHeaderOperationName(name))
	}
	checkHeaderSets(r, resp.field("set"), h.GetResponse().GetSet(), checkHeaderOperationName)
	checkHeaderSets(r, resp.field("add"), h.GetResponse().GetAdd(), checkHeaderOperationName)
	for i, name := range h.GetResponse().GetRemove() {
		r.add(resp.field("remove").index(i), checkHeaderOperationName(name))
	}
}

func checkHeaderSets(r *report, p path, m map[string]string, checkName func(string) error) {
	for _, name := range sortedKeys(m) {
		r.add(p.key(name), checkName(name))
		r.add(p.key(name), checkHeaderValue(m[name]))
	}
}

// checkHeaderValue checks a header value Envoy will format: no control characters, and
// well-formed %VARIABLE% / %VARIABLE(args)% expressions with "%%" for a literal percent.
// What a variable names is not checked.
func checkHeaderValue(v string) error {
	if !headerValueRE.MatchString(v) {
		return fmt.Errorf("header value configuration %q is invalid", v)
	}
	if err := scanHeaderFormat(v); err != nil {
		return fmt.Errorf("header value configuration: %w", err)
	}
	return nil
}

// headerScanState is where scanHeaderFormat is in a value, mirroring the states of
// Envoy's header formatter parser.
type headerScanState int

const (
	inLiteral      headerScanState = iota // plain text
	inVariableName                        // after "%", in VAR of %VAR% or %VAR(...)%
	wantArgs                              // after "(": an array of strings or a bare argument
	wantString                            // in an array, expecting `"`
	inString                              // in an argument string
	wantCommaOrEnd                        // after a string in an array: "," or "]"
	wantCloseParen                        // after "]": ")"
	wantClosePct                          // after ")": "%"
)

func scanHeaderFormat(v string) error {
	state := inLiteral
	for i := 0; i < len(v); i++ {
		c, more := v[i], i+1 < len(v)
		var err error
		state, i, err = stepHeaderFormat(state, v, i, c, more)
		if err != nil {
			return err
		}
	}
	if state != inLiteral {
		return fmt.Errorf("invalid header configuration. Un-terminated variable expression '%s'", v)
	}
	return nil
}

// stepHeaderFormat consumes byte c at index i and returns the next state and index
// (advanced past an escaped byte when one is skipped).
func stepHeaderFormat(s headerScanState, v string, i int, c byte, more bool) (headerScanState, int, error) {
	switch s {
	case inLiteral:
		if c != '%' {
			return s, i, nil
		}
		if !more {
			return s, i, errors.New("invalid header configuration. Un-escaped %")
		}
		if v[i+1] == '%' {
			return inLiteral, i + 1, nil
		}
		return inVariableName, i, nil
	case inVariableName:
		switch c {
		case '%':
			return inLiteral, i, nil
		case '(':
			return wantArgs, i, nil
		}
	case wantArgs:
		if c == '[' {
			return wantString, i, nil
		}
		if c != ' ' {
			return inString, i, nil
		}
	case wantString:
		if c == '"' {
			return inString, i, nil
		}
		if c != ' ' {
			return s, i, errors.New("invalid header configuration. Expecting '\"'")
		}
	case inString:
		return stepHeaderString(i, c, more)
	case wantCommaOrEnd:
		return expect(s, i, c, map[byte]headerScanState{',': wantString, ']': wantCloseParen},
			"invalid header configuration. Expecting ',', ']', or whitespace")
	case wantCloseParen:
		return expect(s, i, c, map[byte]headerScanState{')': wantClosePct},
			"invalid header configuration. Expecting ')' or whitespace")
	case wantClosePct:
		return expect(s, i, c, map[byte]headerScanState{'%': inLiteral},
			"invalid header configuration. Expecting '%' or whitespace")
	}
	return s, i, nil
}

func stepHeaderString(i int, c byte, more bool) (headerScanState, int, error) {
	switch c {
	case '\\':
		if !more {
			return inString, i, errors.New("invalid header configuration. Un-terminated backslash in JSON string")
		}
		return inString, i + 1, nil
	case ')':
		return wantClosePct, i, nil
	case '"':
		return wantCommaOrEnd, i, nil
	}
	return inString, i, nil
}

// expect moves to next[c], stays on a space, and fails on anything else.
func expect(s headerScanState, i int, c byte, next map[byte]headerScanState, msg string) (headerScanState, int, error) {
	if n, ok := next[c]; ok {
		return n, i, nil
	}
	if c != ' ' {
		return s, i, errors.New(msg)
	}
	return s, i, nil
}
