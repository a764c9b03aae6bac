package route

import (
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// grpcStatusCodes are the gRPC status names a fault may abort with, by code.
var grpcStatusCodes = map[string]uint32{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
	"NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
	"FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
	"INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

// translateFault translates fault injection for the fault filter's per-route config: a
// fixed delay and an HTTP or gRPC abort, each for a percentage of requests. Exponential
// delays and other abort kinds are not supported and are left out.
func translateFault(in *networkingv1alpha3.HTTPFaultInjection) *faultv3.HTTPFault {
	out := &faultv3.HTTPFault{}
	if d := in.GetDelay(); d != nil {
		if fixed := d.GetFixedDelay(); fixed != nil {
			out.Delay = &faultcommonv3.FaultDelay{
				FaultDelaySecifier: &faultcommonv3.FaultDelay_FixedDelay{FixedDelay: fixed},
				Percentage:         faultPercent(d.GetPercentage(), d.GetPercent()), //nolint:staticcheck // deprecated, still honoured
			}
		}
	}
	if a := in.GetAbort(); a != nil {
		abort := &faultv3.FaultAbort{}
		if a.GetPercentage() != nil {
			abort.Percentage = millionths(a.GetPercentage())
		}
		switch e := a.GetErrorType().(type) {
		case *networkingv1alpha3.HTTPFaultInjection_Abort_HttpStatus:
			abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(e.HttpStatus)}
			out.Abort = abort
		case *networkingv1alpha3.HTTPFaultInjection_Abort_GrpcStatus:
			abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: grpcStatusCodes[e.GrpcStatus]}
			out.Abort = abort
		}
	}
	return out
}

// faultPercent is the percentage, else the deprecated integer percent.
func faultPercent(p *networkingv1alpha3.Percent, percent int32) *typev3.FractionalPercent {
	if p != nil {
		return millionths(p)
	}
	return &typev3.FractionalPercent{Numerator: uint32(percent), Denominator: typev3.FractionalPercent_HUNDRED}
}
