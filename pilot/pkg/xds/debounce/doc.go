// Package debounce merges bursts of config changes into push requests, with istiod's
// semantics and knobs: a push happens once changes have been quiet for
// PILOT_DEBOUNCE_AFTER, or PILOT_DEBOUNCE_MAX after the first change of a burst, and only
// one debounced push runs at a time (changes arriving meanwhile merge into the next).
// Endpoint-only requests skip debouncing when PILOT_ENABLE_EDS_DEBOUNCE is false.
//
// Producers never block: Enqueue merges under a lock and signals the loop. The clock is
// injected so tests run on a fake one. This package must not import the xds server.
package debounce
