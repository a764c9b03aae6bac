package validation

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// checkDuration checks a duration Envoy is given: at least 1ms, in whole milliseconds.
func checkDuration(d *durationpb.Duration) error {
	v := d.AsDuration()
	if v < time.Millisecond {
		return errors.New("duration must be greater than 1ms")
	}
	if v%time.Millisecond != 0 {
		return errors.New("only durations to ms precision are supported")
	}
	return nil
}

// checkOptionalDuration records checkDuration's verdict on d at p when d is set.
func checkOptionalDuration(r *report, p path, d *durationpb.Duration) {
	if d != nil {
		r.add(p, checkDuration(d))
	}
}

// checkPercent checks an integer percentage is in 0..100.
func checkPercent(v int32) error {
	if v < 0 || v > 100 {
		return fmt.Errorf("percentage %v is not in range 0..100", v)
	}
	return nil
}

// checkFractionalPercent checks a Percent is 0, or in [0.0001, 100] (the precision
// Envoy's fractional percent can carry).
func checkFractionalPercent(p *networkingv1alpha3.Percent) error {
	if p == nil {
		return nil
	}
	if v := p.Value; v < 0 || v > 100 || (v > 0 && v < 0.0001) {
		return fmt.Errorf("percentage %v is neither 0.0, nor in range [0.0001, 100.0]", v)
	}
	return nil
}
