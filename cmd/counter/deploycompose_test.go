package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// composeService is what the checks read of a service of
// deploy/compose.yaml, as compose-go (the Compose Specification's reference
// loader) loads it: validated against the specification's schema, with
// anchors, merges and defaults resolved.
type composeService struct {
	Image       string
	Build       bool
	Hostname    string
	Entrypoint  []string
	Command     []string
	Environment map[string]string
	Restart     string
	Volumes     []string          // "source:target" of named volumes
	Healthcheck []string          // the test
	DependsOn   map[string]string // service → condition
}

// composeEnv is the environment of the shell that runs compose in the
// checks: the variables the file asks for.
var composeEnv = []string{"COUNTER_ADMIN_TOKEN=compose-check-token"}

// loadCompose loads deploy/compose.yaml with compose-go, interpolating env.
func loadCompose(env []string) (*composetypes.Project, error) {
	opts, err := composecli.NewProjectOptions([]string{"../../deploy/compose.yaml"}, composecli.WithEnv(env))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// readCompose loads deploy/compose.yaml with compose-go.
func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	project, err := loadCompose(composeEnv)
	if err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	services := map[string]composeService{}
	for name, s := range project.Services {
		cs := composeService{
			Image: s.Image, Build: s.Build != nil, Hostname: s.Hostname, Entrypoint: s.Entrypoint, Command: s.Command,
			Environment: map[string]string{}, Restart: s.Restart, DependsOn: map[string]string{},
		}
		for k, v := range s.Environment {
			cs.Environment[k] = ""
			if v != nil {
				cs.Environment[k] = *v
			}
		}
		for _, v := range s.Volumes {
			if v.Type == composetypes.VolumeTypeVolume {
				cs.Volumes = append(cs.Volumes, v.Source+":"+v.Target)
			}
		}
		if s.HealthCheck != nil {
			cs.Healthcheck = s.HealthCheck.Test
		}
		for dep, d := range s.DependsOn {
			cs.DependsOn[dep] = d.Condition
		}
		services[name] = cs
	}
	if len(services) == 0 {
		t.Fatal("deploy/compose.yaml: no services")
	}
	return services
}

// counterArgs returns the counter command line a compose service runs (its
// command after the image's ENTRYPOINT ["counter"]) and its environment (the
// image's, then the service's), or ok false for services of other images.
func counterArgs(img dockerImage, s composeService) (args []string, env map[string]string, ok bool) {
	if !strings.HasPrefix(s.Image, "counter") && !s.Build {
		return nil, nil, false
	}
	entry := s.Entrypoint
	if entry == nil {
		entry = img.entrypoint
	}
	env = map[string]string{}
	for k, v := range img.env {
		env[k] = v
	}
	for k, v := range s.Environment {
		env[k] = v
	}
	if len(entry) > 0 && path.Base(entry[0]) == "counter" {
		entry = entry[1:]
	} // else the check says what runs is no counter command
	return append(slices.Clone(entry), s.Command...), env, true
}

// Every counter service's command line and COUNTER_* environment parse with
// counter's own flag parser.
func TestComposeCommandLines(t *testing.T) {
	services, img := readCompose(t), readDockerfile(t)
	n := 0
	for _, name := range sortedKeys(services) {
		args, env, ok := counterArgs(img, services[name])
		if !ok {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			if err := checkCommandLine(t, args, env); err != nil {
				t.Error(err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no counter service in deploy/compose.yaml")
	}
}

// The cluster is what the docs say: 3 KRaft nodes with transactions
// replicated on all of them, 3 workers with their own ids and state, 2 API
// instances, health checks on the addresses the processes serve, restart
// policies, and Prometheus scraping every counter process.
func TestComposeCluster(t *testing.T) {
	services, img := readCompose(t), readDockerfile(t)
	kafka := checkKafkaNodes(t, services)
	var workerIDs, instanceIDs, stateVolumes, scrape []string
	apis := 0
	for _, name := range sortedKeys(services) {
		s := services[name]
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("%s: no restart policy", name)
		}
		args, env, ok := counterArgs(img, s)
		if !ok || len(args) == 0 {
			continue
		}
		for _, b := range strings.Split(flagValue(t, args, env, "brokers"), ",") {
			if !slices.Contains(kafka, b) {
				t.Errorf("%s: broker %q is none of the Kafka services' listeners %q", name, b, kafka)
			}
		}
		for dep, cond := range s.DependsOn {
			// A long-running service is waited for until healthy; a one-shot
			// one (no health check) until it has exited 0, and restarting it
			// after that would run it forever.
			want, d := "service_healthy", services[dep]
			if d.Healthcheck == nil {
				want = "service_completed_successfully"
				if d.Restart != "on-failure" && d.Restart != "no" {
					t.Errorf("%s: one-shot service with restart %q: it would run again after it completed", dep, d.Restart)
				}
			}
			if cond != want {
				t.Errorf("%s: depends on %s with condition %q, want %s", name, dep, cond, want)
			}
		}
		var addr, wantPath string
		switch args[0] {
		case "worker":
			workerIDs = append(workerIDs, flagValue(t, args, env, "id"))
			instanceIDs = append(instanceIDs, flagValue(t, args, env, "instance-id"))
			stateDir := flagValue(t, args, env, "state-dir")
			vol := volumeOf(s.Volumes, stateDir)
			if vol == "" {
				t.Errorf("%s: --state-dir %q is on no named volume (%q): the state would be lost with the container", name, stateDir, s.Volumes)
			}
			stateVolumes = append(stateVolumes, vol)
			addr, wantPath = flagValue(t, args, env, "metrics-addr"), "/readyz"
		case "api":
			apis++
			addr, wantPath = flagValue(t, args, env, "http-addr"), "/readyz"
			if adminRoutesOpen(t, args, env) {
				t.Errorf("%s: the admin routes are open to anyone who reaches the published port: give an admin token", name)
			}
		default:
			continue
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			t.Errorf("%s: serves no health and metrics address (%q)", name, addr)
			continue
		}
		scrape = append(scrape, hostOf(name, s)+":"+port)
		wantURL := "http://127.0.0.1:" + port + wantPath
		if !slices.Contains(s.Healthcheck, wantURL) {
			t.Errorf("%s: health check %q does not ask %s", name, s.Healthcheck, wantURL)
		}
	}
	if len(workerIDs) < 3 || apis < 2 {
		t.Errorf("%d workers and %d API instances, want at least 3 and 2", len(workerIDs), apis)
	}
	for what, list := range map[string][]string{"--id": workerIDs, "--instance-id": instanceIDs, "state volume": stateVolumes} {
		if dup := duplicate(list); dup != "" || slices.Contains(list, "") {
			t.Errorf("workers' %s %q: each worker needs its own (repeated: %q)", what, list, dup)
		}
	}
	if got := prometheusTargets(t); !slices.Equal(got, sorted(scrape)) {
		t.Errorf("deploy/prometheus.yml scrapes %q, want every worker's --metrics-addr and API's --http-addr: %q", got, sorted(scrape))
	}
}

// The stack refuses to start without an admin token rather than open the
// admin routes.
func TestComposeNeedsAdminToken(t *testing.T) {
	if _, err := loadCompose(nil); err == nil || !strings.Contains(err.Error(), "COUNTER_ADMIN_TOKEN") {
		t.Fatalf("deploy/compose.yaml loads without COUNTER_ADMIN_TOKEN (err %v)", err)
	}
}

// checkKafkaNodes checks the apache/kafka services and returns their
// in-network listeners (host:port).
func checkKafkaNodes(t *testing.T, services map[string]composeService) []string {
	t.Helper()
	want := map[string]string{
		"KAFKA_PROCESS_ROLES":                            "",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "",
		"CLUSTER_ID":                                     "",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "3",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "2",
		"KAFKA_MIN_INSYNC_REPLICAS":                      "2",
	}
	var listeners, voters []string
	shared := map[string]string{}
	ids := map[string]bool{}
	for _, name := range sortedKeys(services) {
		s := services[name]
		if !strings.HasPrefix(s.Image, "apache/kafka:") {
			continue
		}
		env := s.Environment
		for k, v := range want {
			if env[k] == "" || v != "" && env[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, env[k], cmp.Or(v, "set"))
			}
			if v == "" && shared[k] != "" && shared[k] != env[k] {
				t.Errorf("%s: %s=%q differs from the other nodes' %q", name, k, env[k], shared[k])
			}
			shared[k] = cmp.Or(shared[k], env[k])
		}
		id := env["KAFKA_NODE_ID"]
		if id == "" || ids[id] {
			t.Errorf("%s: KAFKA_NODE_ID %q is empty or repeated", name, id)
		}
		ids[id] = true
		if strings.Contains(env["KAFKA_PROCESS_ROLES"], "controller") {
			voters = append(voters, id+"@"+hostOf(name, s)+":9093")
		}
		if volumeOf(s.Volumes, env["KAFKA_LOG_DIRS"]) == "" {
			t.Errorf("%s: KAFKA_LOG_DIRS %q is on no named volume", name, env["KAFKA_LOG_DIRS"])
		}
		advertised := "PLAINTEXT://" + hostOf(name, s) + ":9092"
		if !slices.Contains(strings.Split(env["KAFKA_ADVERTISED_LISTENERS"], ","), advertised) {
			t.Errorf("%s: KAFKA_ADVERTISED_LISTENERS %q lacks %s", name, env["KAFKA_ADVERTISED_LISTENERS"], advertised)
		}
		listeners = append(listeners, strings.TrimPrefix(advertised, "PLAINTEXT://"))
	}
	if len(listeners) < 3 {
		t.Fatalf("%d Kafka nodes, want 3", len(listeners))
	}
	if got := sorted(strings.Split(shared["KAFKA_CONTROLLER_QUORUM_VOTERS"], ",")); !slices.Equal(got, sorted(voters)) {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %q, want the controllers %q", got, sorted(voters))
	}
	if id, err := base64.RawURLEncoding.DecodeString(shared["CLUSTER_ID"]); err != nil || len(id) != 16 {
		t.Errorf("CLUSTER_ID %q is not a base64url UUID (kafka-storage random-uuid)", shared["CLUSTER_ID"])
	}
	return listeners
}

// prometheusTargets returns the sorted targets of deploy/prometheus.yml.
func prometheusTargets(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../deploy/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("deploy/prometheus.yml: %v", err)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	return sorted(targets)
}

// volumeOf returns the named volume (of "name:/target") that holds path,
// or "".
func volumeOf(volumes []string, path string) string {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) != 2 || path == "" {
			continue
		}
		if target := strings.TrimSuffix(parts[1], "/"); path == target || strings.HasPrefix(path, target+"/") {
			return parts[0]
		}
	}
	return ""
}

// hostOf returns the name other containers reach service name by.
func hostOf(name string, s composeService) string { return cmp.Or(s.Hostname, name) }

func duplicate(list []string) string {
	seen := map[string]bool{}
	for _, s := range list {
		if seen[s] {
			return s
		}
		seen[s] = true
	}
	return ""
}

func sorted(list []string) []string {
	list = slices.Clone(list)
	sort.Strings(list)
	return list
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
