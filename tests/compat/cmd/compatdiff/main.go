// Command compatdiff generates a compat case with Sextant and diffs it against the case's
// expected.json, printing one line per resource and the diffs of those that differ.
//
//	go run ./tests/compat/cmd/compatdiff -case ../shared/compat/cases/01-k8s-bookinfo-http [-type clusters] [-name X] [-q]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/tests/compat/compare"
)

func main() {
	dir := flag.String("case", "", "case directory")
	typ := flag.String("type", "", "only this resource type")
	name := flag.String("name", "", "only resources whose name contains this")
	quiet := flag.Bool("q", false, "no diffs, only the status lines")
	ignored := flag.String("ignored", "tests/compat/IGNORED.md", "ignore list")
	flag.Parse()
	var ignores []compare.Ignore
	if *ignored != "" {
		if ig, err := compare.ParseIgnored(*ignored); err == nil {
			ignores = ig
		}
	}
	want, err := compare.LoadDoc(filepath.Join(*dir, "expected.json"))
	if err != nil {
		fail(err)
	}
	res, err := generate.Run(generate.CaseRequest(*dir))
	if err != nil {
		fail(err)
	}
	for _, p := range res.Problems {
		fmt.Fprintln(os.Stderr, "input:", p.Error())
	}
	js, err := res.Output.JSON()
	if err != nil {
		fail(err)
	}
	got, err := compare.ParseDoc(js)
	if err != nil {
		fail(err)
	}
	eq, total := 0, 0
	for _, r := range compare.Compare(want, got, ignores) {
		if (*typ != "" && r.Type != *typ) || (*name != "" && !strings.Contains(r.Name, *name)) {
			continue
		}
		total++
		if r.Status == "equal" {
			eq++
		}
		fmt.Printf("%-10s %-9s %s\n", r.Type, r.Status, r.Name)
		if r.Diff != "" && !*quiet {
			fmt.Println(r.Diff)
		}
	}
	fmt.Printf("%d/%d equal\n", eq, total)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compatdiff:", err)
	os.Exit(1)
}
