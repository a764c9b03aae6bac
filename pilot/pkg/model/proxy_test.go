package model

import "testing"

func TestParseNodeMetadataAsIstioAgentSendsIt(t *testing.T) {
	md, err := ParseNodeMetadata([]byte(`{"INSTANCE_IPS":"10.244.1.10,fe80::1","LABELS":{"app":"web"},"NAMESPACE":"shop",
		"ISTIO_VERSION":"1.31.1","PROXY_CONFIG":{"concurrency":2},"SOME_FUTURE_FIELD":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(md.InstanceIPs) != 2 || md.InstanceIPs[1] != "fe80::1" || md.Labels["app"] != "web" || md.Namespace != "shop" {
		t.Errorf("metadata = %+v", md)
	}
	md, err = ParseNodeMetadata([]byte(`{"INSTANCE_IPS":["10.0.0.1"]}`))
	if err != nil || len(md.InstanceIPs) != 1 {
		t.Errorf("list form: %v %v", md, err)
	}
	p, err := ParseServiceNode("sidecar~10.9.9.9~web-0.shop~shop.svc.cluster.local", &NodeMetadata{InstanceIPs: StringList{"10.244.1.10"}})
	if err != nil || p.IPAddresses[0] != "10.244.1.10" || p.ConfigNamespace != "shop" || p.ID != "web-0.shop" {
		t.Errorf("proxy = %+v, %v", p, err)
	}
}
