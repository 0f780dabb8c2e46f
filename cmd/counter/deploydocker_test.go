package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// dockerImage is what the final stage of the Dockerfile sets up.
type dockerImage struct {
	entrypoint, cmd []string
	env             map[string]string
	user            string
	volumes, expose []string
	copies          []string // the COPY instructions' arguments
	runs            []string // every stage's RUN commands
}

// readDockerfile reads the repository's Dockerfile: its instructions, with
// continuation lines joined, and the settings of its final stage.
func readDockerfile(t *testing.T) dockerImage {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	cont := ""
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") { // also inside a continued instruction
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cont += s + " "
			continue
		}
		lines = append(lines, cont+trimmed)
		cont = ""
	}
	var img dockerImage
	for _, line := range lines {
		instr, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one's settings count
			img = dockerImage{runs: img.runs}
		case "ENTRYPOINT":
			img.entrypoint = execForm(t, line, args)
		case "CMD":
			img.cmd = execForm(t, line, args)
		case "ENV":
			if img.env == nil {
				img.env = map[string]string{}
			}
			if k, v, ok := strings.Cut(args, " "); ok && !strings.Contains(k, "=") {
				img.env[k] = strings.TrimSpace(v)
				break
			}
			for _, kv := range strings.Fields(args) {
				k, v, _ := strings.Cut(kv, "=")
				img.env[k] = strings.Trim(v, `"`)
			}
		case "USER":
			img.user = args
		case "VOLUME":
			if strings.HasPrefix(args, "[") {
				img.volumes = append(img.volumes, execForm(t, line, args)...)
			} else {
				img.volumes = append(img.volumes, strings.Fields(args)...)
			}
		case "EXPOSE":
			img.expose = append(img.expose, strings.Fields(args)...)
		case "COPY":
			img.copies = append(img.copies, args)
		case "RUN":
			img.runs = append(img.runs, args)
		}
	}
	return img
}

// execForm decodes an instruction's JSON array (the exec form, which runs no
// shell: the only form whose arguments are known without one).
func execForm(t *testing.T, line, args string) []string {
	t.Helper()
	var list []string
	if err := json.Unmarshal([]byte(args), &list); err != nil {
		t.Fatalf("Dockerfile: %q: want the exec form, a JSON array: %v", line, err)
	}
	return list
}

// The image runs counter as a non-root user, its default command parses with
// counter's own parser, and the binary is static.
func TestDockerfile(t *testing.T) {
	img := readDockerfile(t)
	if !slices.Equal(img.entrypoint, []string{"counter"}) {
		t.Errorf("ENTRYPOINT %q, want [\"counter\"] (compose.yaml and the docs give only the arguments)", img.entrypoint)
	}
	if !slices.ContainsFunc(img.copies, func(c string) bool { return strings.HasSuffix(c, " /usr/local/bin/counter") }) {
		t.Errorf("the final stage copies no binary to /usr/local/bin/counter: %q", img.copies)
	}
	if err := checkCommandLine(t, img.cmd, img.env); err != nil {
		t.Errorf("CMD %q with ENV %v: %v", img.cmd, img.env, err)
	}
	if u, _, _ := strings.Cut(img.user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("USER %q: the image must run as a non-root user", img.user)
	}
	if !slices.Contains(img.volumes, "/data") {
		t.Errorf("VOLUME %q lacks /data", img.volumes)
	}
	if !slices.Contains(img.expose, "3000") {
		t.Errorf("EXPOSE %q lacks the API's 3000", img.expose)
	}
	static := slices.ContainsFunc(img.runs, func(r string) bool {
		return strings.Contains(r, "CGO_ENABLED=0") && strings.Contains(r, "go build") && strings.Contains(r, "./cmd/counter")
	})
	if !static {
		t.Errorf("no RUN builds ./cmd/counter with CGO_ENABLED=0 (a static binary)")
	}
}
