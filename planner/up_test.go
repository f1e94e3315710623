package planner

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// writeCompose writes yaml as compose.yaml in a temporary folder named "demo".
func writeCompose(t *testing.T, yaml string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// load writes yaml as compose.yaml in a temporary folder named "demo" and loads it.
func load(t *testing.T, yaml string) *project.Project {
	t.Helper()
	p, err := project.Load(context.Background(), project.Options{Files: []string{writeCompose(t, yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// running is the observed container that `up` would have created for service s, replica n.
func running(t *testing.T, p *project.Project, service string, n int, imageID string) runtime.Container {
	t.Helper()
	s, err := p.GetService(service)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := p.ContainerSpec(s, project.ContainerOptions{Number: n, ImageID: imageID})
	if err != nil {
		t.Fatal(err)
	}
	nets := map[string]runtime.ContainerNetwork{}
	for _, a := range spec.Networks {
		nets[a.Network] = runtime.ContainerNetwork{}
	}
	return runtime.Container{ID: spec.Name + "-id", Name: spec.Name, Image: s.Image, ImageID: imageID,
		Labels: spec.Labels, State: runtime.StateRunning, Networks: nets}
}

const chain = `
services:
  db:
    image: busybox
    volumes: [data:/data]
  api:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
  web:
    image: busybox
    depends_on: [api]
    ports: ["8080:80"]
volumes:
  data:
`

// recreated is the summary of a recreate of running container name: stop, rename out of the
// way, create, start, remove the old one (named <short ID>_<name>, its ID being name-id).
func recreated(name string) string {
	tmp := shortID(name+"-id") + "_" + name
	return "Stop " + name + "\nRename " + name + "\nCreate " + name + "\nStart " + name + "\nRemove " + tmp
}

// summary renders a plan as "Action Name" lines, sorted as planned.
func summary(plan *Plan) string {
	var lines []string
	for _, s := range plan.Steps {
		lines = append(lines, string(s.Action)+" "+s.Name)
	}
	return strings.Join(lines, "\n")
}

func TestUp(t *testing.T) {
	p := load(t, chain)
	images := map[string]string{"busybox": "sha256:aaa"}
	all := func() []runtime.Container {
		return []runtime.Container{
			running(t, p, "db", 1, "sha256:aaa"),
			running(t, p, "api", 1, "sha256:aaa"),
			running(t, p, "web", 1, "sha256:aaa"),
		}
	}
	world := func(cs []runtime.Container) Observed {
		return Observed{Containers: cs, Images: images,
			Networks: []runtime.Network{{Name: "demo_default"}}, Volumes: []runtime.Volume{{Name: "demo_data"}}}
	}
	cases := []struct {
		name    string
		p       *project.Project
		obs     Observed
		opts    UpOptions
		want    string
		reasons map[string]string
	}{
		{
			name: "creates everything from nothing, image first",
			p:    p,
			obs:  Observed{},
			want: "Pull busybox\nCreateNetwork demo_default\nCreateVolume demo_data\nCreate demo-db-1\nStart demo-db-1\n" +
				"Create demo-api-1\nStart demo-api-1\nCreate demo-web-1\nStart demo-web-1",
		},
		{
			name: "keeps running up-to-date containers",
			p:    p, obs: world(all()),
			want: "Keep demo-db-1\nKeep demo-api-1\nKeep demo-web-1",
		},
		{
			name: "starts a stopped container",
			p:    p,
			obs: func() Observed {
				cs := all()
				cs[1].State = runtime.StateExited
				return world(cs)
			}(),
			want: "Keep demo-db-1\nStart demo-api-1\nKeep demo-web-1",
		},
		{
			name:    "recreates only the service whose config changed and says which field",
			p:       load(t, strings.Replace(chain, "ports: [\"8080:80\"]", "ports: [\"8081:80\"]", 1)),
			obs:     world(all()),
			want:    "Keep demo-db-1\nKeep demo-api-1\n" + recreated("demo-web-1"),
			reasons: map[string]string{"demo-web-1": "config changed: ports"},
		},
		{
			name:    "recreates when the image changed",
			p:       p,
			obs:     Observed{Containers: all(), Images: map[string]string{"busybox": "sha256:bbb"}, Networks: world(nil).Networks, Volumes: world(nil).Volumes},
			want:    recreated("demo-db-1") + "\n" + recreated("demo-api-1") + "\n" + recreated("demo-web-1"),
			reasons: map[string]string{"demo-db-1": "image changed"},
		},
		{
			name: "a dependent with restart: true restarts when its dependency is recreated",
			p: load(t, strings.Replace(strings.Replace(chain, "image: busybox\n    volumes: [data:/data]", "image: busybox\n    environment: {X: \"2\"}\n    volumes: [data:/data]", 1),
				"db: {condition: service_healthy}", "db: {condition: service_healthy, restart: true}", 1)),
			obs:     world(all()),
			want:    recreated("demo-db-1") + "\nRestart demo-api-1\nKeep demo-web-1",
			reasons: map[string]string{"demo-api-1": "dependency db recreated"},
		},
		{
			name: "force-recreate recreates all", p: p, obs: world(all()), opts: UpOptions{ForceRecreate: true},
			want: recreated("demo-db-1") + "\n" + recreated("demo-api-1") + "\n" + recreated("demo-web-1"),
		},
		{
			name: "no-recreate keeps changed containers",
			p:    load(t, strings.Replace(chain, "8080:80", "8081:80", 1)),
			obs:  world(all()), opts: UpOptions{NoRecreate: true},
			want: "Keep demo-db-1\nKeep demo-api-1\nKeep demo-web-1",
		},
		{
			name: "scale up numbers new replicas after the highest",
			p:    p, obs: world(all()), opts: UpOptions{Scale: map[string]int{"web": 3}},
			want: "Keep demo-db-1\nKeep demo-api-1\nKeep demo-web-1\nCreate demo-web-2\nStart demo-web-2\nCreate demo-web-3\nStart demo-web-3",
		},
		{
			name: "scale down removes the highest numbers",
			p:    p,
			obs:  world(append(all(), running(t, p, "web", 2, "sha256:aaa"), running(t, p, "web", 3, "sha256:aaa"))),
			opts: UpOptions{Scale: map[string]int{"web": 1}},
			want: "Keep demo-db-1\nKeep demo-api-1\nKeep demo-web-1\nStop demo-web-2\nRemove demo-web-2\nStop demo-web-3\nRemove demo-web-3",
		},
		{
			name: "orphans are removed with --remove-orphans",
			p:    p,
			obs: func() Observed {
				cs := all()
				old := running(t, p, "web", 1, "sha256:aaa")
				old.Name, old.ID = "demo-old-1", "old"
				old.Labels = map[string]string{runtime.LabelService: "old", runtime.LabelContainerNumber: "1"}
				return world(append(cs, old))
			}(),
			opts: UpOptions{RemoveOrphans: true},
			want: "Keep demo-db-1\nKeep demo-api-1\nKeep demo-web-1\nStop demo-old-1\nRemove demo-old-1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Up(tc.p, tc.obs, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(plan); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			for name, reason := range tc.reasons {
				st := plan.Step(KindContainer + ":" + name + "/Stop")
				if st == nil {
					st = plan.Step(KindContainer + ":" + name + "/Restart")
				}
				if st == nil || st.Reason != reason {
					t.Errorf("reason of %s = %+v, want %q", name, st, reason)
				}
			}
		})
	}
}

func TestUpOrdersContainersAfterTheirDependencies(t *testing.T) {
	p := load(t, chain)
	plan, err := Up(p, Observed{}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, action Action) *Step { return plan.Find(KindContainer, name, action) }
	web, api, db := step("demo-web-1", StartContainer), step("demo-api-1", StartContainer), step("demo-db-1", StartContainer)
	if !contains(web.After, api.ID) || contains(web.After, db.ID) || !contains(web.After, step("demo-web-1", CreateContainer).ID) {
		t.Errorf("web's start waits for %v, want its creation and api's start, not db's", web.After)
	}
	// Creations wait for the image, networks and volumes only: Compose creates every
	// container, then starts them in dependency order.
	createAPI := step("demo-api-1", CreateContainer)
	if !contains(createAPI.After, "Network:demo_default/CreateNetwork") || !contains(createAPI.After, "Image:busybox/Pull") || contains(createAPI.After, db.ID) {
		t.Errorf("api's creation waits for %v", createAPI.After)
	}
	if !contains(step("demo-db-1", CreateContainer).After, "Volume:demo_data/CreateVolume") {
		t.Errorf("db's creation waits for %v, want its volume", step("demo-db-1", CreateContainer).After)
	}
	if len(api.Waits) != 1 || api.Waits[0].Condition != "service_healthy" || api.Waits[0].Service != "db" ||
		!slices.Equal(api.Waits[0].Containers, []string{"demo-db-1"}) {
		t.Errorf("api waits on %+v", api.Waits)
	}
}

// A container whose configuration names another container is created only once that one
// runs, as the engine resolves the name at creation.
func TestUpCreatesAheadUnlessTheSpecNamesAContainer(t *testing.T) {
	for _, tc := range []struct {
		what  string
		extra string
		ahead bool
	}{
		{"depends_on only", "depends_on: [db]", true},
		{"network_mode service:", "network_mode: service:db", false},
		{"ipc service:", "ipc: service:db", false},
		{"volumes_from", "volumes_from: [db]", false},
		{"links", "links: [db]", false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			p := load(t, "services:\n  db: {image: busybox}\n  web:\n    image: busybox\n    "+tc.extra+"\n")
			plan, err := Up(p, Observed{Images: map[string]string{"busybox": "sha256:b"}}, UpOptions{})
			if err != nil {
				t.Fatal(err)
			}
			create, startDB := plan.Find(KindContainer, "demo-web-1", CreateContainer), plan.Find(KindContainer, "demo-db-1", StartContainer)
			if ahead := !contains(create.After, startDB.ID); ahead != tc.ahead {
				t.Errorf("web's creation waits for %v; created ahead = %v, want %v", create.After, ahead, tc.ahead)
			}
		})
	}
}

// up --wait waits for every container it starts or keeps: healthy or running, or exited 0
// for a one-shot that a dependent waits to complete.
func TestUpWaitAwaitsEveryContainer(t *testing.T) {
	p := load(t, `
services:
  migrate: {image: busybox}
  app:
    image: busybox
    depends_on:
      migrate: {condition: service_completed_successfully}
`)
	plan, err := Up(p, Observed{Images: map[string]string{"busybox": "sha256:b"}}, UpOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, goal := range map[string]string{"demo-app-1": ConditionUp, "demo-migrate-1": "service_completed_successfully"} {
		st := plan.Find(KindContainer, name, AwaitContainer)
		if st == nil || !slices.Equal(st.After, []string{StepID(KindContainer, name, StartContainer)}) ||
			len(st.Waits) != 1 || st.Waits[0].Condition != goal || !st.Waits[0].Goal {
			t.Errorf("await of %s: %+v", name, st)
		}
	}
}

func TestUpWarnsAboutOrphans(t *testing.T) {
	p := load(t, chain)
	old := runtime.Container{ID: "x", Name: "demo-old-1", Labels: map[string]string{runtime.LabelService: "old"}}
	plan, err := Up(p, Observed{Containers: []runtime.Container{old}}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "Found orphan containers ([demo-old-1])") {
		t.Errorf("warnings = %q", plan.Warnings)
	}
}

func TestUpRefusesBadInput(t *testing.T) {
	p := load(t, chain)
	cases := []struct {
		name string
		obs  Observed
		opts UpOptions
		want string
	}{
		{"scale of an unknown service", Observed{}, UpOptions{Scale: map[string]int{"nope": 2}}, `no such service "nope"`},
		{"pull never with a missing image", Observed{}, UpOptions{Pull: "never"}, "not present locally and the pull policy is never"},
		{"incompatible recreate flags", Observed{}, UpOptions{ForceRecreate: true, NoRecreate: true}, "incompatible"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Up(p, tc.obs, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUpExternalNetworkMustExist(t *testing.T) {
	p := load(t, `
services:
  a: {image: busybox, networks: [outside]}
networks:
  outside: {external: true, name: shared}
`)
	_, err := Up(p, Observed{}, UpOptions{})
	if err == nil || !strings.Contains(err.Error(), "network shared declared as external, but could not be found") {
		t.Fatalf("err = %v", err)
	}
	plan, err := Up(p, Observed{ExternalNetworks: map[string]bool{"shared": true}}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range plan.Steps {
		if st.Kind == KindNetwork {
			t.Errorf("plan touches the external network: %s", st.ID)
		}
	}
}

func contains(list []string, s string) bool { return indexOf(list, s) >= 0 }

func TestUpBuildsWhatItMust(t *testing.T) {
	p := load(t, `
services:
  app:
    build: .
  db:
    image: busybox
`)
	built := map[string]string{"demo-app": "sha256:app", "busybox": "sha256:bb"}
	cases := []struct {
		name   string
		images map[string]string
		opts   UpOptions
		want   string // the image steps
		err    string
	}{
		{"builds a missing image, named <project>-<service>", map[string]string{"busybox": "sha256:bb"}, UpOptions{}, "Build demo-app", ""},
		{"does not rebuild a present image", built, UpOptions{}, "", ""},
		{"rebuilds with --build", built, UpOptions{Build: true}, "Build demo-app", ""},
		{"--no-build with a missing image is an error", map[string]string{"busybox": "sha256:bb"}, UpOptions{NoBuild: true}, "", "--no-build"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Up(p, Observed{Images: tc.images}, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range plan.Steps {
				if st.Kind == KindImage {
					got = append(got, string(st.Action)+" "+st.Name)
				}
			}
			if strings.Join(got, "\n") != tc.want {
				t.Errorf("image steps %q, want %q", got, tc.want)
			}
			if st := plan.Find(KindImage, "demo-app", BuildImage); st != nil && (st.Build == nil || st.Build.Tags[0] != "demo-app") {
				t.Errorf("build spec %+v", st.Build)
			}
		})
	}
}
