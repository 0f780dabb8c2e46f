package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/cli"
)

const (
	systemdDir = "../../deploy/systemd"
	// systemdInstance names the instance the checks give a template unit.
	systemdInstance = "w1"
	// installedBinary is where the units (and the image) expect counter.
	installedBinary = "/usr/local/bin/counter"
)

// unitFile is a systemd unit: its settings per section, in file order.
type unitFile map[string]map[string][]string

// specifiers are the values of the unit specifiers the units use.
type specifiers struct {
	instance    string // %i
	prefix      string // %p: the unit name before "@" (or ".service")
	credentials string // %d: the credentials directory
}

// specifiersOf returns the specifiers of instance systemdInstance of the unit
// at path, with credentials for %d.
func specifiersOf(path, credentials string) specifiers {
	name := strings.TrimSuffix(filepath.Base(path), ".service")
	prefix, _, _ := strings.Cut(name, "@")
	return specifiers{instance: systemdInstance, prefix: prefix, credentials: credentials}
}

// readUnit parses a unit file or drop-in (sections, Key=Value lines,
// comments, backslash continuations), with the specifiers replaced.
func readUnit(t *testing.T, path string, sp specifiers) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section, cont := "", ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cont += s + " "
			continue
		}
		line, cont = cont+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s: %q is no Key=Value line of a section", path, line)
		}
		v = strings.NewReplacer("%i", sp.instance, "%p", sp.prefix, "%d", sp.credentials, "%%", "%").Replace(strings.TrimSpace(v))
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], v)
	}
	return u
}

// last returns the value of a setting that takes one (the last one wins).
func (u unitFile) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// units returns the unit files of deploy/systemd.
func units(t *testing.T) []string {
	t.Helper()
	list, err := filepath.Glob(filepath.Join(systemdDir, "*.service"))
	if err != nil || len(list) == 0 {
		t.Fatalf("no units in %s: %v", systemdDir, err)
	}
	return list
}

// unitEnv returns the environment the unit at path, with the drop-ins,
// gives counter: the example of each EnvironmentFile= in deploy/systemd
// (/etc/counter/worker-%i.env is deploy/systemd/worker.env), then the
// Environment= settings of the unit and of the drop-ins, where %d is a
// directory holding a made-up secret for each LoadCredential=.
func unitEnv(t *testing.T, path string, dropIns ...string) map[string]string {
	t.Helper()
	creds := t.TempDir()
	sp := specifiersOf(path, creds)
	files := append([]string{path}, dropIns...)
	for _, f := range files {
		for _, c := range readUnit(t, f, sp)["Service"]["LoadCredential"] {
			id, _, _ := strings.Cut(c, ":")
			if err := os.WriteFile(filepath.Join(creds, id), []byte("check-secret-4f9a2c\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw := readUnit(t, path, specifiers{instance: "%i"}) // %i kept to find the examples
	env := map[string]string{}
	for _, f := range raw["Service"]["EnvironmentFile"] {
		example := filepath.Join(systemdDir, strings.ReplaceAll(filepath.Base(strings.TrimPrefix(f, "-")), "-%i", ""))
		data, err := os.ReadFile(example)
		if err != nil {
			t.Errorf("%s: EnvironmentFile=%s has no example in deploy/systemd: %v", filepath.Base(path), f, err)
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
				k, v, _ := strings.Cut(line, "=")
				env[k] = strings.Trim(v, `"'`)
			}
		}
	}
	for _, f := range files {
		for _, kvs := range readUnit(t, f, sp)["Service"]["Environment"] {
			for _, kv := range strings.Fields(kvs) {
				k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				env[k] = v
			}
		}
	}
	return env
}

// dropIns returns the drop-in examples of deploy/systemd (*.conf).
func dropIns(t *testing.T) []string {
	t.Helper()
	list, err := filepath.Glob(filepath.Join(systemdDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// appliesTo reports whether the drop-in at path is meant for a unit running
// counter command cmd: every COUNTER_* variable it sets is a flag of cmd.
func appliesTo(t *testing.T, path, cmd string) bool {
	t.Helper()
	flags := commandFlags(t, cmd)
	for _, kvs := range readUnit(t, path, specifiers{})["Service"]["Environment"] {
		for _, kv := range strings.Fields(kvs) {
			if k, _, _ := strings.Cut(strings.Trim(kv, `"`), "="); strings.HasPrefix(k, cli.EnvPrefix) && !hasEnvTwin(flags, k) {
				return false
			}
		}
	}
	return true
}

// Every drop-in's settings, applied to each unit they are meant for, still
// give a command line that parses; each drop-in is meant for some unit.
func TestSystemdDropIns(t *testing.T) {
	for _, d := range dropIns(t) {
		applied := 0
		for _, path := range units(t) {
			args := strings.Fields(readUnit(t, path, specifiersOf(path, "%d")).last("Service", "ExecStart"))[1:]
			if !appliesTo(t, d, args[0]) {
				continue
			}
			applied++
			t.Run(filepath.Base(d)+" on "+filepath.Base(path), func(t *testing.T) {
				if err := checkCommandLine(t, args, unitEnv(t, path, d)); err != nil {
					t.Error(err)
				}
			})
		}
		if applied == 0 {
			t.Errorf("%s sets variables that no unit's command has", filepath.Base(d))
		}
	}
}

// Every unit's ExecStart, with its environment files' examples, parses with
// counter's own flag parser; units run as a non-root user with the hardening
// the docs promise, and write only to their state directory.
func TestSystemdUnits(t *testing.T) {
	for _, path := range units(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			u := readUnit(t, path, specifiersOf(path, "%d"))
			execStart := u["Service"]["ExecStart"]
			if len(execStart) != 1 {
				t.Fatalf("%d ExecStart lines, want 1", len(execStart))
			}
			argv := strings.Fields(execStart[0])
			if argv[0] != installedBinary {
				t.Errorf("ExecStart runs %s, want %s", argv[0], installedBinary)
			}
			if strings.Contains(execStart[0], "%") || strings.ContainsAny(execStart[0], `"'$`) {
				t.Errorf("ExecStart %q: use no specifiers but %%i and %%p, no quotes, no variables (the check could not read it as systemd does)", execStart[0])
			}
			args, env := argv[1:], unitEnv(t, path)
			if err := checkCommandLine(t, args, env); err != nil {
				t.Error(err)
			}
			for key, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "on-failure", "PrivateTmp": "yes", "ProtectHome": "yes"} {
				if got := u.last("Service", key); got != want {
					t.Errorf("%s=%q, want %q", key, got, want)
				}
			}
			if adminRoutesOpen(t, args, env) {
				t.Errorf("the admin routes are open: give an admin token")
			}
			if user := u.last("Service", "User"); user == "" || user == "root" || user == "0" {
				t.Errorf("User=%q: run as a non-root user", user)
			}
			if strings.HasSuffix(name, "@.service") {
				for _, f := range []string{"id", "instance-id"} {
					if got := flagValue(t, args, env, f); got != systemdInstance {
						t.Errorf("instance %s runs with --%s %q: the instance name must be the worker's", systemdInstance, f, got)
					}
				}
			}
			var writable []string
			for _, d := range u["Service"]["StateDirectory"] {
				writable = append(writable, "/var/lib/"+d)
			}
			for _, d := range u["Service"]["ReadWritePaths"] {
				writable = append(writable, strings.Fields(d)...)
			}
			for _, f := range []string{"state-dir", "data-dir"} {
				if _, ok := commandFlags(t, args[0])[f]; !ok {
					continue
				}
				dir := flagValue(t, args, env, f)
				inside := func(w string) bool { return dir == w || strings.HasPrefix(dir, strings.TrimSuffix(w, "/")+"/") }
				if !filepath.IsAbs(dir) || !slices.ContainsFunc(writable, inside) {
					t.Errorf("--%s %q is not in a StateDirectory= or ReadWritePaths= (%q): ProtectSystem=strict makes it read-only", f, dir, writable)
				}
			}
		})
	}
}

// systemd itself accepts the units (systemd-analyze verify), where it is
// installed: it is not required.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (Debian package systemd): the units are not verified by systemd")
	}
	self, err := os.Executable() // verify wants ExecStart to name an executable
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for _, path := range units(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Replace(filepath.Base(path), "@.service", "@"+systemdInstance+".service", 1)
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, []byte(strings.ReplaceAll(string(data), installedBinary, self)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, dst)
		// The drop-ins meant for the unit, where systemd looks for them.
		cmd := strings.Fields(readUnit(t, path, specifiersOf(path, "%d")).last("Service", "ExecStart"))[1]
		for _, d := range dropIns(t) {
			if !appliesTo(t, d, cmd) {
				continue
			}
			data, err := os.ReadFile(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dst+".d", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst+".d", filepath.Base(d)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, append([]string{"verify"}, files...)...).CombinedOutput()
	// verify exits 0 on settings it ignores (an unknown key, a bad value):
	// any line about our units is a failure.
	var problems []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range append(files, dropIns(t)...) {
			if strings.Contains(line, filepath.Base(f)) {
				problems = append(problems, line)
				break
			}
		}
	}
	if err != nil || len(problems) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(problems, "\n"))
	}
	if len(out) > 0 {
		t.Logf("systemd-analyze verify said (nothing about our units):\n%s", out)
	}
}
