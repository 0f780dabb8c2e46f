package testkit_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/counter-dev/counter/"

// pkg is what go list says of one package.
type pkg struct {
	ImportPath                string
	Deps, Imports             []string
	TestImports, XTestImports []string
}

// listPackages runs go list over the module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

func under(path string, roots ...string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// The dependency rules of docs/architecture.md: the API side and the shared
// pipeline contract never reach the worker or its store (nor Pebble); the
// counting core reaches only the pipeline contract (no Kafka, no store); the
// product binary links neither the tools nor the test kit; nothing but the
// tools' own binary imports the tools; examples use nothing of the module.
func TestLayoutRules(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, dep := range p.Deps {
			d := strings.TrimPrefix(dep, module)
			if under(p.ImportPath, "internal/apinode", "internal/pipeline") &&
				(under(d, "internal/worker", "internal/store") || strings.HasPrefix(d, "github.com/cockroachdb/pebble")) {
				t.Errorf("%s depends on %s: the API side and the pipeline contract must not reach the worker, its store or Pebble", p.ImportPath, dep)
			}
			if under(p.ImportPath, "internal/pipeline") && strings.HasPrefix(dep, module) && !under(d, "internal/pipeline") {
				t.Errorf("%s depends on %s: the pipeline contract depends on nothing else of the module", p.ImportPath, dep)
			}
			if p.ImportPath == "internal/worker/task" && (strings.HasPrefix(dep, module) && !under(d, "internal/pipeline") ||
				strings.HasPrefix(dep, "github.com/twmb/franz-go") || strings.HasPrefix(dep, "github.com/cockroachdb/pebble")) {
				t.Errorf("%s depends on %s: the counting core reaches only the pipeline contract (no Kafka, no store)", p.ImportPath, dep)
			}
			if under(p.ImportPath, "internal/worker", "internal/store") && under(d, "internal/apinode") {
				t.Errorf("%s depends on %s: the worker does not reach the API side", p.ImportPath, dep)
			}
			if p.ImportPath == "cmd/counter" && under(d, "internal/tools", "internal/testkit") {
				t.Errorf("the product binary links %s", d)
			}
			if under(p.ImportPath, "examples") && strings.HasPrefix(dep, module) {
				t.Errorf("%s depends on %s: an example uses nothing of the module, so that users can copy it", p.ImportPath, dep)
			}
		}
		if under(p.ImportPath, "internal/tools", "cmd/counter-tools") {
			continue
		}
		for _, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range list {
				if under(strings.TrimPrefix(imp, module), "internal/tools") {
					t.Errorf("%s imports %s: nothing outside the tools imports them", p.ImportPath, imp)
				}
			}
		}
	}
}
