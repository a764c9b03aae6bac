package validation

import (
	"fmt"
	"math"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Topology labels that a failoverPriority may not use together with failover (locality
// LB), or at all (zone-aware LB, which orders by them itself).
var topologyLabels = map[string]bool{
	"topology.kubernetes.io/region": true,
	"topology.kubernetes.io/zone":   true,
	"topology.istio.io/subzone":     true,
}

// maxMaglevTableSize is Envoy's bound on a Maglev table, which must also be prime.
const maxMaglevTableSize = 5000011

func checkLoadBalancer(r *report, p path, lb *networkingv1alpha3.LoadBalancerSettings, outlier *networkingv1alpha3.OutlierDetection) {
	if lb == nil {
		return
	}
	if ch := lb.GetConsistentHash(); ch != nil {
		checkConsistentHash(r, p.field("consistentHash"), ch)
	}
	if lb.LocalityLbSetting != nil && lb.ZoneAwareLbSetting != nil {
		r.errorf(p, "only one of localityLbSetting and zoneAwareLbSetting can be set")
	}
	checkLocalityLB(r, p.field("localityLbSetting"), lb.LocalityLbSetting, outlier)
	checkZoneAwareLB(r, p.field("zoneAwareLbSetting"), lb.ZoneAwareLbSetting, outlier)
	if w := lb.Warmup; w != nil {
		wp := p.field("warmup")
		requiredDuration(r, wp, "duration", w.Duration, "duration is required")
		if w.MinimumPercent.GetValue() > 100 {
			r.errorf(wp.field("minimumPercent"), "minimumPercent value should be less than or equal to 100")
		}
		if w.Aggression != nil && w.Aggression.GetValue() <= 0 {
			r.errorf(wp.field("aggression"), "aggression should be greater than 0")
		}
	}
}

func checkConsistentHash(r *report, p path, ch *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB) {
	if c := ch.GetHttpCookie(); c != nil {
		cp := p.field("httpCookie")
		if c.Name == "" {
			r.errorf(cp.field("name"), "name required for HttpCookie")
		}
		seen := map[string]bool{}
		for i, a := range c.Attributes {
			switch {
			case a.GetName() == "":
				r.errorf(cp.field("attributes").index(i), "cookie attribute name cannot be empty")
			case seen[a.GetName()]:
				r.errorf(cp.field("attributes").index(i), "duplicate cookie attribute name: %s", a.GetName())
			default:
				seen[a.GetName()] = true
			}
		}
	}
	if ch.MinimumRingSize != 0 { //nolint:staticcheck // deprecated, still accepted
		r.warnf(p.field("minimumRingSize"), "consistent hash MinimumRingSize is deprecated, "+
			"use ConsistentHashLB's RingHash configuration instead")
		if ch.GetHashAlgorithm() != nil {
			r.errorf(p, "only one of MinimumRingSize or Maglev/Ringhash can be specified")
		}
	}
	if ml := ch.GetMaglev(); ml != nil {
		tp := p.field("maglev.tableSize")
		if ml.TableSize == 0 {
			r.errorf(tp, "tableSize must be set for maglev")
		}
		if ml.TableSize >= maxMaglevTableSize {
			r.errorf(tp, "tableSize must be less than %d for maglev", maxMaglevTableSize)
		}
		if !isPrime(ml.TableSize) {
			r.errorf(tp, "tableSize must be a prime number for maglev")
		}
	}
}

// isPrime decides primality as Envoy does for Maglev table sizes (1 counts as prime).
func isPrime(x uint64) bool {
	if x != 0 && x < 4 {
		return true
	}
	if x%2 == 0 {
		return false
	}
	limit := uint64(math.Sqrt(float64(x)))
	for f := uint64(3); f <= limit; f += 2 {
		if x%f == 0 {
			return false
		}
	}
	return true
}

// checkLocalityLB checks locality weighted distribution (weights 1..100 summing to 100
// per source, no overlapping localities) and locality failover.
func checkLocalityLB(r *report, p path, lb *networkingv1alpha3.LocalityLoadBalancerSetting, outlier *networkingv1alpha3.OutlierDetection) {
	if lb == nil {
		return
	}
	if len(lb.Distribute) > 0 && len(lb.Failover) > 0 {
		r.errorf(p, "can not simultaneously specify 'distribute' and 'failover'")
		return
	}
	if len(lb.Failover) > 0 {
		for i, l := range lb.FailoverPriority {
			if topologyLabels[l] {
				r.errorf(p.field("failoverPriority").index(i),
					"can not simultaneously set 'failover' and topology label '%s' in 'failover_priority'", l)
				return
			}
		}
	}
	var sources []string
	for i, d := range lb.Distribute {
		dp := p.field("distribute").index(i)
		sources = append(sources, d.GetFrom())
		var total uint32
		for _, to := range sortedKeys(d.GetTo()) {
			w := d.GetTo()[to]
			if w == 0 || w > 100 {
				r.errorf(dp.field("to").key(to), "locality weight must be in range [1, 100]")
				return
			}
			total += w
		}
		if total != 100 {
			r.errorf(dp.field("to"), "total locality weight %v != 100", total)
			return
		}
		r.add(dp.field("to"), checkLocalities(sortedKeys(d.GetTo())))
	}
	r.add(p.field("distribute"), checkLocalities(sources))
	if (len(lb.Failover) != 0 || len(lb.FailoverPriority) != 0) && outlier == nil {
		r.warnf(p, "outlier detection policy must be provided for failover")
	}
	for i, f := range lb.Failover {
		checkFailover(r, p.field("failover").index(i), f.GetFrom(), f.GetTo(), "locality lb failover settings must specify different regions",
			"locality lb failover only specify region", "locality lb failover region should not contain '*' wildcard")
	}
}

func checkFailover(r *report, p path, from, to, same, notRegion, wildcard string) {
	if from == to {
		r.errorf(p, "%s", same)
	}
	if strings.Contains(from, "/") || strings.Contains(to, "/") {
		r.errorf(p, "%s", notRegion)
	}
	if strings.Contains(from, "*") || strings.Contains(to, "*") {
		r.errorf(p, "%s", wildcard)
	}
}

// checkZoneAwareLB checks zone-aware LB: failover orders regions only, and
// failoverPriority may not use topology labels.
func checkZoneAwareLB(r *report, p path, lb *networkingv1alpha3.ZoneAwareLoadBalancerSetting, outlier *networkingv1alpha3.OutlierDetection) {
	if lb == nil {
		return
	}
	for i, l := range lb.FailoverPriority {
		if topologyLabels[l] {
			r.errorf(p.field("failoverPriority").index(i), "'failover_priority' for zone aware lb must not use topology "+
				"label '%s'; region- and zone-level routing are handled automatically", l)
		}
	}
	if (len(lb.Failover) != 0 || len(lb.FailoverPriority) != 0) && outlier == nil {
		r.warnf(p, "outlier detection policy must be provided for failover")
	}
	for i, f := range lb.Failover {
		checkFailover(r, p.field("failover").index(i), f.GetFrom(), f.GetTo(),
			"zone aware lb failover settings must specify different regions",
			"zone aware lb failover only specifies region; zone and subzone failover are handled automatically",
			"zone aware lb failover region should not contain '*' wildcard")
	}
}

// localityTree records which region/zone/subzone a list of localities already claimed;
// "*" marks a whole region or zone.
type localityTree map[string]map[string]map[string]bool

// checkLocalities rejects malformed localities ("region[/zone[/subzone]]", one trailing
// "*" at most) and localities that overlap an earlier one in the list.
func checkLocalities(localities []string) error {
	tree := localityTree{}
	for _, l := range localities {
		if n := strings.Count(l, "*"); n > 1 || n == 1 && !strings.HasSuffix(l, "*") {
			return fmt.Errorf("locality %s wildcard '*' number can not exceed 1 and must be in the end", l)
		}
		if _, all := tree["*"]; all {
			return fmt.Errorf("locality %s overlap with previous specified ones", l)
		}
		parts := strings.SplitN(l, "/", 3)
		for _, part := range parts {
			if part == "" {
				return fmt.Errorf("locality %s must not contain empty region/zone/subzone info", l)
			}
		}
		if !tree.claim(parts) {
			return fmt.Errorf("locality %s overlap with previous specified ones", l)
		}
	}
	return nil
}

// claim records a locality split in parts, reporting false if it overlaps what is
// already claimed.
func (t localityTree) claim(parts []string) bool {
	region := parts[0]
	zones, regionSeen := t[region]
	if len(parts) == 1 {
		if regionSeen {
			return false
		}
		t[region] = map[string]map[string]bool{"*": {"*": true}}
		return true
	}
	if !regionSeen {
		zones = map[string]map[string]bool{}
		t[region] = zones
	} else if _, whole := zones["*"]; whole {
		return false
	}
	zone := parts[1]
	subzones, zoneSeen := zones[zone]
	if len(parts) == 2 {
		if zoneSeen {
			return false
		}
		zones[zone] = map[string]bool{"*": true}
		return true
	}
	if !zoneSeen {
		subzones = map[string]bool{}
		zones[zone] = subzones
	} else if subzones["*"] || subzones[parts[2]] {
		return false
	}
	subzones[parts[2]] = true
	return true
}
