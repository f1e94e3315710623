package e2e

import (
	"errors"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePSReadsOneObjectPerLineOrAnArray(t *testing.T) {
	lines := `{"ID":"abc","Name":"p-web-1","Service":"web","State":"running","Status":"Up 2 seconds","Health":"","ExitCode":0,"Publishers":[{"URL":"127.0.0.1","TargetPort":8080,"PublishedPort":49153,"Protocol":"tcp"}]}
{"ID":"def","Name":"p-db-1","Service":"db","State":"exited","Status":"Exited (3)","Health":"","ExitCode":3,"Publishers":null}
`
	want := []Container{
		{ID: "abc", Name: "p-web-1", Service: "web", State: "running", Status: "Up 2 seconds",
			Publishers: []Publisher{{URL: "127.0.0.1", TargetPort: 8080, PublishedPort: 49153, Protocol: "tcp"}}},
		{ID: "def", Name: "p-db-1", Service: "db", State: "exited", Status: "Exited (3)", ExitCode: 3},
	}
	for name, out := range map[string]string{
		"lines": lines,
		"array": "[" + strings.Join(strings.Split(strings.TrimSpace(lines), "\n"), ",") + "]",
	} {
		got, err := ParsePS(out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.EqualFunc(got, want, func(a, b Container) bool {
			return a.ID == b.ID && a.Name == b.Name && a.State == b.State && a.ExitCode == b.ExitCode &&
				slices.Equal(a.Publishers, b.Publishers)
		}) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
	if got, err := ParsePS("\n"); err != nil || got != nil {
		t.Errorf("empty output: %v, %v", got, err)
	}
}

func TestHasProgressMatchesComposePlainLines(t *testing.T) {
	stderr := " Container p-web-1  Running\n Container p-db-1 Recreated \n Network p_default  Removed\n"
	for _, c := range []struct {
		object, name string
		texts        []string
		want         bool
	}{
		{"Container", "p-web-1", []string{"Running"}, true},
		{"Container", "p-db-1", []string{"Recreate", "Recreated"}, true},
		{"Container", "p-db-1", []string{"Recreate"}, false},
		{"Container", "p-web-1", []string{"Started"}, false},
		{"Container", "p-web", []string{"Running"}, false},
		{"Network", "p_default", []string{"Removed"}, true},
		{"Volume", "p_default", []string{"Removed"}, false},
	} {
		if got := HasProgress(stderr, c.object, c.name, c.texts...); got != c.want {
			t.Errorf("HasProgress(%s %s %v) = %v, want %v", c.object, c.name, c.texts, got, c.want)
		}
	}
}

func TestProjectNamesAreUniqueAndValid(t *testing.T) {
	valid := regexp.MustCompile(`^e2e-[a-z0-9-]+-docker-[0-9a-f]{6}$`)
	a := projectName("Logs -f follows a Restarted container!", "docker")
	b := projectName("Logs -f follows a Restarted container!", "docker")
	for _, n := range []string{a, b} {
		if !valid.MatchString(n) || strings.Contains(n, "--") {
			t.Errorf("project name %q is not e2e-<scenario>-<runtime>-<hex> in [a-z0-9-]", n)
		}
	}
	if a == b {
		t.Errorf("two projects share the name %q", a)
	}
}

func TestHTTPGetStaysOnLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok " + r.URL.Path))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		body, err := HTTPGet(net.JoinHostPort(host, port), "/x")
		if err != nil || body != "ok /x" {
			t.Errorf("GET via %s: %q, %v", host, body, err)
		}
	}
	if _, err := HTTPGet("192.0.2.1:80", "/"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("GET of a non-loopback host: %v, want a refusal", err)
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, time.Minute, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("condition called %d times, want 3", calls)
	}
}

func TestRuntimesAndFeatures(t *testing.T) {
	t.Setenv("COMP_E2E_RUNTIMES", "")
	if got := Runtimes(); !slices.Equal(got, []string{"docker", "embedded"}) {
		t.Errorf("default Runtimes() = %q", got)
	}
	t.Setenv("COMP_E2E_RUNTIMES", " embedded, ,docker ")
	if got := Runtimes(); !slices.Equal(got, []string{"embedded", "docker"}) {
		t.Errorf("Runtimes() = %q", got)
	}

	t.Setenv("COMP_E2E_EMBEDDED_FEATURES", "none")
	t.Run("embedded lacks bridge", func(t *testing.T) {
		RequireFeatures(t, "embedded", "bridge")
		t.Error("not skipped")
	})
	t.Run("docker has bridge", func(t *testing.T) {
		RequireFeatures(t, "docker", "bridge")
	})
	t.Setenv("COMP_E2E_EMBEDDED_FEATURES", "seccomp,bridge")
	t.Run("embedded listed bridge", func(t *testing.T) {
		RequireFeatures(t, "embedded", "bridge")
	})
}
