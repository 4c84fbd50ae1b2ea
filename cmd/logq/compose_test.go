package main

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/manager"
)

// The deployment files at the repository root are checked here against the
// commands' real flag sets (the cobra command tree): no Docker engine is needed, and
// a renamed flag or variable fails this test instead of a deployment.

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	// Extensions are the top-level x- keys (anchors for shared settings).
	Extensions map[string]any `yaml:",inline"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Build           any               `yaml:"build"`
	Command         []string          `yaml:"command"`
	Entrypoint      []string          `yaml:"entrypoint"`
	Environment     map[string]string `yaml:"environment"`
	Ports           []string          `yaml:"ports"`
	Volumes         []string          `yaml:"volumes"`
	Healthcheck     *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true) // a misspelt key is an error, not silently ignored
	if err := dec.Decode(&c); err != nil {
		// KnownFields also rejects keys this test does not model: add them
		// to composeService when the file grows.
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for k := range c.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Fatalf("docker-compose.yml: unknown top-level key %q", k)
		}
	}
	return c
}

// dockerfile is what the test needs from the Dockerfile.
type dockerfile struct {
	stages     []string // FROM lines
	entrypoint string   // the binary ENTRYPOINT runs
	user       string
	build      string // the RUN line with go build
	exposed    []string
}

func loadDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	sc := bufio.NewScanner(f)
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, `\`) {
			cont += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, cont = cont+line, ""
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			d.stages = append(d.stages, rest)
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			var ep []string
			if err := yaml.Unmarshal([]byte(rest), &ep); err != nil || len(ep) == 0 {
				t.Fatalf("Dockerfile: ENTRYPOINT %s: want the exec form [\"/path\"]", rest)
			}
			d.entrypoint = ep[0]
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.build = rest
			}
		case "EXPOSE":
			d.exposed = append(d.exposed, strings.Fields(rest)...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDockerfile: multi-stage, a static binary, a non-root user.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	d := loadDockerfile(t)
	if len(d.stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(d.stages))
	}
	if !strings.Contains(d.build, "CGO_ENABLED=0") || !strings.Contains(d.build, "./cmd/logq") {
		t.Errorf("Dockerfile: the go build must build ./cmd/logq with CGO_ENABLED=0 (a static binary): %q", d.build)
	}
	final := d.stages[len(d.stages)-1]
	if !strings.Contains(final, "distroless/static") && !strings.HasPrefix(final, "scratch") {
		t.Errorf("Dockerfile: runtime stage %q is not distroless/static or scratch", final)
	}
	if u := strings.Split(d.user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("Dockerfile: USER %q; want a non-root user", d.user)
	}
	if d.entrypoint == "" {
		t.Error("Dockerfile: no ENTRYPOINT")
	}
}

// TestCompose checks docker-compose.yml: every logq service's command,
// environment, ports and health check parse with the real flag sets and
// fit together (addresses, advertised names, the managers the brokers
// talk to, the database), and the topology is the documented one.
func TestCompose(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	d := loadDockerfile(t)

	// PostgreSQL: logical decoding (the logical tail mode), data on a
	// volume, a health check the servers wait for.
	pgName, pg := "", composeService{}
	for name, s := range c.Services {
		if strings.HasPrefix(s.Image, "postgres:") {
			pgName, pg = name, s
		}
	}
	if pgName == "" {
		t.Fatal("no postgres service")
	}
	if !slices.Contains(pg.Command, "wal_level=logical") {
		t.Errorf("%s: command %v does not set wal_level=logical", pgName, pg.Command)
	}
	hasVolume := false
	for _, v := range pg.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if _, ok := c.Volumes[src]; ok && dst == "/var/lib/postgresql/data" {
			hasVolume = true
		}
	}
	if !hasVolume {
		t.Errorf("%s: no named volume on /var/lib/postgresql/data (volumes %v)", pgName, pg.Volumes)
	}
	if pg.Healthcheck == nil {
		t.Errorf("%s: no health check", pgName)
	}
	pgUser, pgPass, pgDB := pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_PASSWORD"], pg.Environment["POSTGRES_DB"]

	type server struct {
		name string
		cmd  string
		f    *pflag.FlagSet
		port string
	}
	var managers, brokers []server
	roles := map[manager.Role]int{}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if name == pgName {
			continue
		}
		if s.Build == nil && !strings.HasPrefix(s.Image, "logq") {
			t.Errorf("%s: neither built from the Dockerfile nor a logq image", name)
			continue
		}
		if len(s.Entrypoint) > 0 {
			t.Errorf("%s: overrides the entrypoint; the image's is %s", name, d.entrypoint)
		}
		if len(s.Command) == 0 {
			t.Errorf("%s: no command", name)
			continue
		}
		cmd, f, err := parseService(s.Command, s.Environment)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cmd != "manager" && cmd != "broker" {
			t.Errorf("%s: runs %q; want manager or broker", name, cmd)
			continue
		}
		val := func(flag string) string { return f.Lookup(flag).Value.String() }

		// Listen on every interface, at a port the other settings agree on.
		host, port, err := net.SplitHostPort(val("addr"))
		if err != nil || port == "" || port == "0" {
			t.Errorf("%s: --addr %q: want host:port with a fixed port", name, val("addr"))
			continue
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("%s: listens on %q; in a container it must listen on all interfaces (0.0.0.0)", name, host)
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if parts[len(parts)-1] != port {
				t.Errorf("%s: publishes %q, but listens on port %s", name, p, port)
			}
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: publishes %q on every interface; bind it to loopback (127.0.0.1:%s:%s)", name, p, port, port)
			}
		}
		// Other services call it by its service name: the Host check lets it through.
		if hosts := val("allowed-hosts"); hosts != "*" && !slices.Contains(strings.Split(hosts, ","), name) {
			t.Errorf("%s: --allowed-hosts %q does not name the service", name, hosts)
		}

		// The database is the postgres service, with its credentials.
		u, err := url.Parse(val("db"))
		switch {
		case err != nil || val("db") == "":
			t.Errorf("%s: --db %q: want the postgres service's URL", name, val("db"))
		case u.Hostname() != pgName || strings.TrimPrefix(u.Path, "/") != pgDB || u.User.Username() != pgUser:
			t.Errorf("%s: --db %s does not point at service %s, database %s, user %s", name, redactDSN(val("db")), pgName, pgDB, pgUser)
		default:
			if p, _ := u.User.Password(); p != pgPass {
				t.Errorf("%s: --db password differs from %s's POSTGRES_PASSWORD", name, pgName)
			}
		}
		if _, err := eventlog.ParseMode(val("tail")); err != nil {
			t.Errorf("%s: --tail: %v", name, err)
		}
		if dep, ok := s.DependsOn[pgName]; !ok || dep.Condition != "service_healthy" {
			t.Errorf("%s: does not wait for %s to be healthy (depends_on condition service_healthy)", name, pgName)
		}

		// The health check runs this image's own binary: logq health.
		hc := s.Healthcheck
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" {
			t.Errorf("%s: want a health check [\"CMD\", %q, \"health\", …]", name, d.entrypoint)
		} else {
			if hc.Test[1] != d.entrypoint {
				t.Errorf("%s: health check runs %s; the image's binary is %s", name, hc.Test[1], d.entrypoint)
			}
			hcmd, hf, err := parseService(hc.Test[2:], nil)
			if err != nil || hcmd != "health" {
				t.Errorf("%s: health check %v: %v (want logq health --url …)", name, hc.Test[2:], err)
			} else {
				hu, err := url.Parse(hf.Lookup("url").Value.String())
				if err != nil || hu.Port() != port || !isLoopback(hu.Hostname()) || hu.Path != "/healthz" {
					t.Errorf("%s: health check URL %q: want http://127.0.0.1:%s/healthz", name, hf.Lookup("url").Value, port)
				}
			}
		}

		srv := server{name: name, cmd: cmd, f: f, port: port}
		switch cmd {
		case "manager":
			role, err := manager.ParseRole(val("role"))
			if err != nil {
				t.Errorf("%s: --role: %v", name, err)
			}
			roles[role]++
			if want := "http://" + net.JoinHostPort(name, port); strings.TrimSuffix(val("advertise"), "/") != want {
				t.Errorf("%s: --advertise %q; others reach it at %s", name, val("advertise"), want)
			}
			managers = append(managers, srv)
		case "broker":
			if want := net.JoinHostPort(name, port); val("advertise") != want {
				t.Errorf("%s: --advertise %q; others reach it at %s", name, val("advertise"), want)
			}
			brokers = append(brokers, srv)
		}
	}

	// Brokers register with and heartbeat to the managers of this file.
	byName := map[string]server{}
	for _, m := range managers {
		byName[m.name] = m
	}
	for _, b := range brokers {
		list := strings.Split(b.f.Lookup("managers").Value.String(), ",")
		if len(list) != len(managers) {
			t.Errorf("%s: --managers %v; want all %d managers (any of them may be the writer)", b.name, list, len(managers))
		}
		for _, m := range list {
			u, err := url.Parse(strings.TrimSpace(m))
			if err != nil {
				t.Errorf("%s: --managers: %v", b.name, err)
				continue
			}
			if mg, ok := byName[u.Hostname()]; !ok || u.Port() != mg.port || u.Scheme != "http" {
				t.Errorf("%s: --managers names %s, which is no manager of this file", b.name, m)
			}
		}
	}

	// The topology of issue #8: a writer (or two managers in role auto),
	// a read-only manager, three brokers.
	if roles[manager.RoleWrite]+roles[manager.RoleAuto] == 0 || roles[manager.RoleWrite] > 1 {
		t.Errorf("manager roles %v: want one writer, or managers in role auto", roles)
	}
	if roles[manager.RoleRead] < 1 {
		t.Errorf("manager roles %v: want a read-only manager", roles)
	}
	if len(brokers) != 3 {
		t.Errorf("%d brokers; want 3", len(brokers))
	}
}

// parseService parses a container's command line and environment with the
// command's real flag set, the way run would, and returns the command name
// and the parsed flags.
func parseService(args []string, environment map[string]string) (string, *pflag.FlagSet, error) {
	cmd, rest, err := newRoot(testEnv()).Find(args)
	if err != nil || !cmd.HasParent() || isGroup(cmd) {
		return "", nil, fmt.Errorf("command %v: no such logq command", args)
	}
	name := commandName(cmd)
	// Every LOGQ_ variable must be one the command reads: a typo would
	// otherwise be silently ignored and the default used.
	known := map[string]bool{}
	for _, fi := range flagInfos(cmd) {
		for _, v := range fi.Env {
			known[v] = true
		}
	}
	for k := range environment {
		if strings.HasPrefix(k, "LOGQ_") && !known[k] {
			return "", nil, fmt.Errorf("environment variable %s is not read by logq %s", k, name)
		}
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return "", nil, fmt.Errorf("logq %s: %v", name, flagError(cmd, err))
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return "", nil, fmt.Errorf("logq %s: %v", name, err)
	}
	if err := applyEnv(cmd, func(k string) string { return environment[k] }); err != nil {
		return "", nil, fmt.Errorf("logq %s: %v", name, err)
	}
	return name, cmd.Flags(), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TestParseServiceRejects: the compose check would catch the mistakes it is
// there for.
func TestParseServiceRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"manager"}, map[string]string{"LOGQ_HEARTBEAT_TIMOUT": "1m"}, "LOGQ_HEARTBEAT_TIMOUT is not read"},
		{[]string{"manager"}, map[string]string{"LOGQ_HEARTBEAT_TIMEOUT": "soon"}, "invalid LOGQ_HEARTBEAT_TIMEOUT"},
		{[]string{"broker", "--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"brokr"}, nil, "no such logq command"},
		{[]string{"health", "--url"}, nil, "flag needs an argument"},
	} {
		_, _, err := parseService(tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseService(%v, %v) = %v; want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
	cmd, f, err := parseService([]string{"broker", "--id", "7"}, map[string]string{"LOGQ_DB": "postgres://x@y/z", "LOGQ_TAIL": "logical"})
	if err != nil || cmd != "broker" || f.Lookup("id").Value.String() != "7" || f.Lookup("db").Value.String() != "postgres://x@y/z" || f.Lookup("tail").Value.String() != "logical" {
		t.Errorf("parseService(broker) = %q, %v", cmd, err)
	}
	// A flag on the command line wins over its variables.
	_, f, err = parseService([]string{"broker", "--tail=notify"}, map[string]string{"LOGQ_TAIL": "logical", "LOGQ_DATABASE_URL": "postgres://a/b", "LOGQ_DB": "postgres://c/d"})
	if err != nil || f.Lookup("tail").Value.String() != "notify" || f.Lookup("db").Value.String() != "postgres://a/b" {
		t.Errorf("parseService(broker --tail=notify): %v", err)
	}
}
