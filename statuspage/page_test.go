package statuspage_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/harness/devcluster/devclustertest"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The status page is checked in a real browser: headless Chromium loads
// /ui from a running cluster (the page's JavaScript runs, and refreshes the
// content in place at least once), the test reads the DOM it ends up with
// (--dump-dom) and takes a screenshot into the test's artifact directory
// (kept with go test -artifacts).

// chromium returns the path of a headless-capable Chromium, failing the test
// (never skipping it) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LOGQ_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the status page test needs headless Chromium, and none was found: install it " +
		"(Debian/Ubuntu: apt-get install -y chromium; .ci/run does) or set LOGQ_CHROMIUM to its path")
	return ""
}

// runChromium runs a headless Chromium with a fresh profile and returns
// its stdout and stderr (console messages included).
func runChromium(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	// Chromium is a tree of processes: its own process group, killed whole
	// on timeout and after it exits (no helper outlives the test).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	started := time.Now()
	err := cmd.Run()
	t.Logf("chromium %v took %v", args, time.Since(started))
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(errOut.String(), 3000))
	}
	return out.String(), errOut.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// dumpDOM loads url, lets its scripts run for budget of virtual time
// (timers fire, fetches complete) and returns the DOM.
func dumpDOM(t *testing.T, url string, budget time.Duration) string {
	t.Helper()
	dom, stderr := runChromium(t, fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds()), "--dump-dom", url)
	for _, bad := range []string{"Uncaught", "Content Security Policy", "Refused to"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("%s: the browser console reports %q:\n%s", url, bad, tail(stderr, 3000))
		}
	}
	return dom
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// text is the visible text of an HTML fragment, whitespace collapsed.
func text(fragment string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(fragment, " ")), " "))
}

// rows returns the text of each <tr> carrying attr="value", by value.
func rows(dom, attr string) map[string]string {
	re := regexp.MustCompile(`(?s)<tr ` + attr + `="([^"]*)"[^>]*>(.*?)</tr>`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(dom, -1) {
		out[m[1]] = text(m[2])
	}
	return out
}

// element returns the text of the element with the given id.
func element(dom, id string) string {
	re := regexp.MustCompile(`(?s)<(\w+)[^>]* id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</(\w+)>`)
	m := re.FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return text(m[2])
}

// topicRows returns the partition rows of one topic's tbody, by partition.
func topicRows(dom, topic string) map[string]string {
	re := regexp.MustCompile(`(?s)<tbody class="topic" data-topic="` + regexp.QuoteMeta(topic) + `">(.*?)</tbody>`)
	m := re.FindStringSubmatch(dom)
	if m == nil {
		return nil
	}
	return rows(m[1], "data-partition")
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := devclustertest.Client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStatusPage loads /ui of the writer and of a reader in headless
// Chromium, against a cluster with traffic, and checks what it shows:
// brokers with liveness and heartbeat age, topics with partition owners,
// epochs and high watermarks, consumers with lag, the latest events; then
// the replay view (?at=SEQ) before and after the topic existed.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	chromium(t) // fail early, with what to install
	c := devclustertest.Start(t, devcluster.Config{})
	writer, reader := c.Managers[0].URL, c.Managers[1].URL
	tr := devclustertest.SendTraffic(t, writer, "ui-orders", 30, 10)
	devclustertest.Eventually(t, 10*time.Second, func() string {
		if s := devclustertest.Num(t, devclustertest.Call(t, "GET", reader+"/healthz", nil)["seq"]); s < tr.Seq {
			return fmt.Sprintf("reader applied %d < %d", s, tr.Seq)
		}
		return ""
	})
	// The seq that created the topic, from the event log.
	events := devclustertest.Call(t, "GET", writer+"/events?limit=1000", nil)["events"].([]any)
	var created, lastAssigned int64
	for _, e := range events {
		ev := e.(map[string]any)
		seq := devclustertest.Num(t, ev["seq"])
		data := fmt.Sprint(ev["data"])
		switch {
		case ev["type"] == "TopicCreated" && strings.Contains(data, "ui-orders"):
			created = seq
		case ev["type"] == "PartitionAssigned" && strings.Contains(data, "ui-orders"):
			lastAssigned = seq
		}
	}
	if created == 0 || lastAssigned <= created {
		t.Fatalf("events: TopicCreated at %d, last PartitionAssigned at %d", created, lastAssigned)
	}

	checkLive := func(t *testing.T, dom, role string) {
		t.Helper()
		if !strings.Contains(dom, `data-js="ready"`) {
			t.Error("the page's script did not run (no data-js=ready)")
		}
		if m := regexp.MustCompile(`data-refreshes="(\d+)"`).FindStringSubmatch(dom); m == nil || m[1] == "0" {
			t.Error("the page did not refresh itself (no data-refreshes ≥ 1)")
		}
		if got := element(dom, "role"); got != role {
			t.Errorf("role badge %q, want %q", got, role)
		}
		if got := element(dom, "brokers-alive"); got != "3 / 3" {
			t.Errorf("brokers alive %q, want 3 / 3", got)
		}
		brokers := rows(dom, "data-broker-id")
		if len(brokers) != 3 {
			t.Errorf("%d broker rows, want 3: %v", len(brokers), brokers)
		}
		ageRE := regexp.MustCompile(`\b\d+(\.\d)?s ago$`)
		for _, b := range c.Brokers {
			row := brokers[strconv.FormatInt(b.ID, 10)]
			if !strings.Contains(row, b.Addr) || !strings.Contains(row, "alive") || !ageRE.MatchString(row) {
				t.Errorf("broker %d row %q: want its address %s, alive, a heartbeat age", b.ID, row, b.Addr)
			}
		}
		parts := topicRows(dom, tr.Topic)
		if len(parts) != 3 {
			t.Fatalf("topic %s: %d partition rows, want 3", tr.Topic, len(parts))
		}
		var hwSum int64
		hw0 := int64(-1)
		for p, row := range parts {
			// "[topic] P broker B ADDR EPOCH HW yes"
			m := regexp.MustCompile(`(\d+) broker (\d+) (\S+) 1 (\d+) yes$`).FindStringSubmatch(row)
			if m == nil || m[1] != p {
				t.Errorf("partition %s row %q: want owner, epoch 1, a high watermark, writable", p, row)
				continue
			}
			hw, _ := strconv.ParseInt(m[4], 10, 64)
			hwSum += hw
			if p == "0" {
				hw0 = hw
			}
		}
		if hwSum != int64(tr.Produced) {
			t.Errorf("high watermarks add up to %d, want %d", hwSum, tr.Produced)
		}
		consumers := rows(dom, "data-consumer-id")
		if row, want := consumers[strconv.FormatInt(tr.Consumer, 10)], fmt.Sprintf("%s all active %d", tr.Topic, tr.Produced-tr.Consumed); !strings.HasSuffix(row, want) {
			t.Errorf("consumer %d row %q, want … %q", tr.Consumer, row, want)
		}
		if row, want := consumers[strconv.FormatInt(tr.Consumer2, 10)], fmt.Sprintf("%s 0 active %d", tr.Topic, hw0); !strings.HasSuffix(row, want) {
			t.Errorf("consumer %d row %q, want … %q", tr.Consumer2, row, want)
		}
		if row := rows(dom, "data-producer-id")[strconv.FormatInt(tr.Producer, 10)]; !strings.HasSuffix(row, tr.Topic+" all active") {
			t.Errorf("producer %d row %q", tr.Producer, row)
		}
		ev := rows(dom, "data-seq")
		if len(ev) < 10 || !strings.Contains(ev[strconv.FormatInt(created, 10)], "TopicCreated") ||
			!strings.Contains(ev[strconv.FormatInt(tr.Seq, 10)], "ConsumerRegistered") {
			t.Errorf("events: %d rows; want the latest, with TopicCreated at %d and ConsumerRegistered at %d", len(ev), created, tr.Seq)
		}
	}

	t.Run("writer", func(t *testing.T) {
		t.Parallel()
		checkLive(t, dumpDOM(t, writer+"/ui", 5*time.Second), "writer")
	})
	t.Run("reader", func(t *testing.T) {
		t.Parallel()
		dom := dumpDOM(t, reader+"/ui", 5*time.Second)
		checkLive(t, dom, "reader")
		if !strings.Contains(text(dom), "Heartbeat ages as the writer ("+writer+") sees them") {
			t.Error("the reader's page does not say its heartbeat ages come from the writer")
		}
		shot := filepath.Join(t.ArtifactDir(), "ui-reader.png")
		runChromium(t, "--window-size=1280,900", "--screenshot="+shot, reader+"/ui")
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cfg, err := png.DecodeConfig(f)
		if err != nil || cfg.Width != 1280 || cfg.Height != 900 {
			t.Fatalf("screenshot %s: %v, %dx%d", shot, err, cfg.Width, cfg.Height)
		}
		t.Logf("screenshot of the status page: %s (kept with go test -artifacts)", shot)
	})
	t.Run("replay", func(t *testing.T) {
		t.Parallel()
		before := dumpDOM(t, fmt.Sprintf("%s/ui?at=%d", reader, created-1), time.Second)
		if strings.Contains(before, `data-topic="`+tr.Topic+`"`) || !strings.Contains(element(before, "replay-notice"), fmt.Sprintf("as of seq %d", created-1)) {
			t.Errorf("at seq %d (before TopicCreated): the topic shows, or no replay notice", created-1)
		}
		if strings.Contains(before, "data-refreshes") {
			t.Error("a replay view refreshed itself")
		}
		if got := element(before, "seq"); got != strconv.FormatInt(created-1, 10) {
			t.Errorf("seq card %q, want %d", got, created-1)
		}
		after := dumpDOM(t, fmt.Sprintf("%s/ui?at=%d", reader, lastAssigned), time.Second)
		parts := topicRows(after, tr.Topic)
		if len(parts) != 3 {
			t.Fatalf("at seq %d: %d partitions of %s, want 3", lastAssigned, len(parts), tr.Topic)
		}
		for p, row := range parts {
			if !regexp.MustCompile(`broker \d+ \S+ 1 — yes$`).MatchString(row) {
				t.Errorf("at seq %d, partition %s: %q; want an owner at epoch 1 and no live high watermark", lastAssigned, p, row)
			}
		}
		if rows(after, "data-consumer-id")[strconv.FormatInt(tr.Consumer, 10)] != "" {
			t.Errorf("at seq %d the consumer registered later shows", lastAssigned)
		}
		ev := rows(after, "data-seq")
		if _, ok := ev[strconv.FormatInt(lastAssigned+1, 10)]; ok || ev[strconv.FormatInt(lastAssigned, 10)] == "" {
			t.Errorf("at seq %d the events shown are not the ones up to it", lastAssigned)
		}
	})
}

// TestStatusPageHTTP: the page's edges, without a browser: bad input is a
// 400 page saying what is wrong, assets are served with their types, the
// heartbeat ages come from the writer only.
func TestStatusPageHTTP(t *testing.T) {
	t.Parallel()
	c := devclustertest.Start(t, devcluster.Config{})
	writer, reader := c.Managers[0].URL, c.Managers[1].URL
	for _, tc := range []struct {
		path   string
		html   bool // ask for HTML, as a browser does
		status int
		want   string
	}{
		{"/ui", false, 200, `id="brokers"`},
		{"/ui?at=abc", true, 400, `<p class="error" id="error">at=&#34;abc&#34;: want a seq`},
		{"/ui?at=abc", false, 400, `{"status":"failure","message":"at=\"abc\": want a seq`},
		{"/ui?at=-1", false, 400, `"code":"invalid"`},
		{"/ui?at=999999", true, 400, "beyond this manager&#39;s applied seq"},
		{"/ui?at=999999", false, 400, "beyond this manager's applied seq"},
		{"/ui?at=0", false, 200, "No broker has registered by seq 0"},
		{"/ui?events=100000", false, 400, "want a number of events"},
		{"/ui/assets/ui.js", false, 200, "dataset.refreshes"},
		{"/ui/assets/ui.css", false, 200, ".badge"},
		{"/ui/assets/page.html", false, 404, `"status":"failure"`},
		{"/ui/assets/nope.js", false, 404, `"status":"failure"`},
	} {
		req, err := http.NewRequest("GET", reader+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.html {
			req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		}
		resp, err := devclustertest.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s (html %t): %d, want %d with %q:\n%s", tc.path, tc.html, resp.StatusCode, tc.status, tc.want, tail(string(b), 500))
		}
	}
	resp, err := devclustertest.Client.Get(writer + "/ui/assets/ui.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("ui.js Content-Type %q", ct)
	}
	resp, err = devclustertest.Client.Get(writer + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("/ui Content-Security-Policy %q", csp)
	}

	hb := devclustertest.Call(t, "GET", writer+"/ui/heartbeats", nil)
	if list, _ := hb["heartbeats"].([]any); len(list) != 3 {
		t.Errorf("writer /ui/heartbeats: %v", hb)
	}
	if status, body := get(t, reader+"/ui/heartbeats"); status != http.StatusServiceUnavailable || !strings.Contains(body, "not_writer") {
		t.Errorf("reader /ui/heartbeats: %d %s", status, body)
	}
}
