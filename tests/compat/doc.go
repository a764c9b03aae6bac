// Package compat runs Sextant's generator over the compatibility corpus (cases/*: inputs,
// proxy.yaml and the expected.json upstream istiod 1.31.1 generated through
// ../shared/oracle) and compares the output resource by resource.
//
// The test reports the share of equal resources per case, for the cases in scope and for
// all cases, and fails when a case falls below its recorded floor in baseline.json (the
// floors only ever go up: run with -update-baseline after an improvement).
package compat
