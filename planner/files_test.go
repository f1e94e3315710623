package planner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

// A config's content is not in Docker Compose's config hash; comp recreates when it changes
// all the same (docker/compose#11900), and says which one changed.
func TestUpRecreatesWhenASecretOrConfigContentChanges(t *testing.T) {
	const yaml = `
services:
  web:
    image: busybox
    configs: [app]
configs:
  app: {content: "%s"}
`
	images := map[string]string{"busybox": "sha256:aaa"}
	old := load(t, fmt.Sprintf(yaml, "v1"))
	obs := Observed{Containers: []runtime.Container{running(t, old, "web", 1, "sha256:aaa")}, Images: images,
		Networks: []runtime.Network{{Name: "demo_default"}}}

	plan, err := Up(old, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(plan); got != "Keep demo-web-1" {
		t.Errorf("same content: plan\n%s\nwant Keep demo-web-1", got)
	}

	changed := load(t, fmt.Sprintf(yaml, "v2"))
	plan, err = Up(changed, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(plan), recreated("demo-web-1"); got != want {
		t.Errorf("new content: plan\n%s\nwant\n%s", got, want)
	}
	for _, st := range plan.Steps {
		if st.Action == CreateContainer && !strings.Contains(st.Reason, "config app changed") {
			t.Errorf("recreate reason %q does not name config app", st.Reason)
		}
	}

	plan, err = Up(changed, obs, UpOptions{NoRecreate: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(plan); got != "Keep demo-web-1" {
		t.Errorf("--no-recreate: plan\n%s\nwant Keep demo-web-1", got)
	}
}

// A secret file that does not exist stops planning, so nothing is created.
func TestUpRefusesAMissingSecretFile(t *testing.T) {
	p := load(t, `
services:
  web: {image: busybox, secrets: [db_pw]}
secrets:
  db_pw: {file: ./missing.txt}
`)
	_, err := Up(p, Observed{}, UpOptions{})
	if err == nil || !strings.Contains(err.Error(), "secrets.db_pw.file") || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("err = %v, want it to name secrets.db_pw.file and missing.txt", err)
	}
}
