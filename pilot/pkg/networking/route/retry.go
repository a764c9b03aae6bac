package route

import (
	"net/http"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// Istio's retry defaults: 2 retries on connection failures, refused streams and the
// retriable gRPC/HTTP statuses, avoiding hosts already tried.
const (
	defaultRetryOn           = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	defaultRetries           = 2
	hostSelectionMaxAttempts = 5
)

func previousHostsPredicate() *routev3.RetryPolicy_RetryHostPredicate {
	return &routev3.RetryPolicy_RetryHostPredicate{
		Name:       "envoy.retry_host_predicates.previous_hosts",
		ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: protoconv.MessageToAny(&previoushostsv3.PreviousHostsPredicate{})},
	}
}

func previousPrioritiesPriority() *routev3.RetryPolicy_RetryPriority {
	return &routev3.RetryPolicy_RetryPriority{
		Name: "envoy.retry_priorities.previous_priorities",
		ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{
			TypedConfig: protoconv.MessageToAny(&previousprioritiesv3.PreviousPrioritiesConfig{UpdateFrequency: 2}),
		},
	}
}

// retryPolicy translates a VirtualService retry policy (nil: Istio's default). Zero
// attempts disable retries (nil). With consistent hashing, retries stay on the hashed
// host unless the policy asks to avoid previous hosts.
func retryPolicy(in *networkingv1alpha3.HTTPRetry, consistentHash bool) *routev3.RetryPolicy {
	out := &routev3.RetryPolicy{
		RetryOn:                       defaultRetryOn,
		NumRetries:                    wrapperspb.UInt32(defaultRetries),
		HostSelectionRetryMaxAttempts: hostSelectionMaxAttempts,
	}
	if !consistentHash {
		out.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{previousHostsPredicate()}
	}
	if in == nil {
		return out
	}
	if in.Attempts <= 0 {
		return nil
	}
	out.NumRetries = wrapperspb.UInt32(uint32(in.Attempts))
	if in.RetryOn != "" {
		out.RetryOn, out.RetriableStatusCodes = parseRetryOn(in.RetryOn)
		if len(out.RetriableStatusCodes) > 0 && !strings.Contains(out.RetryOn, "retriable-status-codes") {
			out.RetryOn += ",retriable-status-codes"
		}
	}
	out.PerTryTimeout = in.PerTryTimeout
	if in.RetryIgnorePreviousHosts != nil {
		out.RetryHostPredicate = nil
		if in.RetryIgnorePreviousHosts.GetValue() {
			out.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{previousHostsPredicate()}
		}
	}
	if in.RetryRemoteLocalities.GetValue() {
		out.RetryPriority = previousPrioritiesPriority()
	}
	if in.Backoff != nil {
		out.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: in.Backoff}
	}
	return out
}

// parseRetryOn splits a retryOn list into Envoy retry conditions and HTTP status codes.
func parseRetryOn(retryOn string) (string, []uint32) {
	var conditions []string
	var codes []uint32
	for _, part := range strings.Split(retryOn, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if code, err := strconv.Atoi(part); err == nil && http.StatusText(code) != "" {
			codes = append(codes, uint32(code))
		} else {
			conditions = append(conditions, part)
		}
	}
	return strings.Join(conditions, ","), codes
}
