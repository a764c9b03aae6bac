package log

import "testing"

func TestOutputLevel(t *testing.T) {
	l, err := New(Options{OutputLevel: "default:warn,ads:debug,model:none"})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Scope("ads").V(1).Enabled() {
		t.Error("ads:debug should enable debug logs")
	}
	if l.Scope("config").Enabled() {
		t.Error("default:warn should disable info logs of other scopes")
	}
	if l.Scope("model").GetSink().Enabled(0) {
		t.Error("model:none should disable the scope")
	}
	if _, err := New(Options{OutputLevel: "ads:loud"}); err == nil {
		t.Error("bad level accepted")
	}
}
