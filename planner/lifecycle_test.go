package planner

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

// observed is replica n of service in project demo, in state.
func observed(service string, n int, state string) runtime.Container {
	name := "demo-" + service + "-" + string(rune('0'+n))
	return runtime.Container{ID: name + "-id", Name: name, Image: "busybox", State: state, Labels: map[string]string{
		runtime.LabelProject: "demo", runtime.LabelService: service, runtime.LabelContainerNumber: string(rune('0' + n)),
		runtime.LabelOneoff: "False"}}
}

// labelledChain is db <- api (healthy, restart: true) <- web, with the labels `up` writes.
func labelledChain(db, api, web string) Observed {
	a := observed("api", 1, api)
	a.Labels[runtime.LabelDependsOn] = "db:service_healthy:true"
	w := observed("web", 1, web)
	w.Labels[runtime.LabelDependsOn] = "api:service_started:false"
	return Observed{Containers: []runtime.Container{a, observed("db", 1, db), w}}
}

func TestDependencies(t *testing.T) {
	c := observed("web", 1, runtime.StateRunning)
	c.Labels[runtime.LabelDependsOn] = "cache:service_started:false,db:service_healthy:true"
	want := []Dependency{{Service: "cache", Condition: "service_started"}, {Service: "db", Condition: "service_healthy", Restart: true}}
	if got := Dependencies(c); !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if deps := Dependencies(observed("db", 1, runtime.StateRunning)); len(deps) != 0 {
		t.Errorf("no label gave %+v", deps)
	}
}

func TestStartOrdersByLabelsAndWaitsOnConditions(t *testing.T) {
	plan, err := Start(nil, labelledChain(runtime.StateExited, runtime.StateExited, runtime.StateRunning), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := plan.Find(KindContainer, "demo-db-1", StartContainer); st == nil || len(st.After) != 0 {
		t.Errorf("db: %+v, want a start with no prerequisite", st)
	}
	api := plan.Find(KindContainer, "demo-api-1", StartContainer)
	if api == nil || !slices.Equal(api.After, []string{"Container:demo-db-1/Start"}) {
		t.Fatalf("api: %+v, want a start after db's", api)
	}
	if len(api.Waits) != 1 || api.Waits[0].Condition != "service_healthy" || !slices.Equal(api.Waits[0].Containers, []string{"demo-db-1"}) {
		t.Errorf("api waits %+v, want db healthy", api.Waits)
	}
	if plan.Find(KindContainer, "demo-web-1", KeepContainer) == nil {
		t.Errorf("running web is not kept:\n%s", plan)
	}
}

func TestStartOfAServiceStartsItsDependenciesOnly(t *testing.T) {
	plan, err := Start(nil, labelledChain(runtime.StateExited, runtime.StateExited, runtime.StateExited), []string{"api"})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(plan); got != "Start demo-api-1\nStart demo-db-1" {
		t.Errorf("plan:\n%s", got)
	}
	if _, err := Start(nil, Observed{}, nil); err == nil || err.Error() != "no containers to start" {
		t.Errorf("nothing to start: %v", err)
	}
}

func TestStartRefusesACycle(t *testing.T) {
	a := observed("a", 1, runtime.StateExited)
	a.Labels[runtime.LabelDependsOn] = "b:service_started:false"
	b := observed("b", 1, runtime.StateExited)
	b.Labels[runtime.LabelDependsOn] = "a:service_started:false"
	_, err := Start(nil, Observed{Containers: []runtime.Container{a, b}}, nil)
	if err == nil || !strings.Contains(err.Error(), "dependency cycle detected: a -> b -> a") {
		t.Errorf("err = %v, want the cycle named", err)
	}
}

func TestStopStopsDependentsFirst(t *testing.T) {
	plan := Stop(labelledChain(runtime.StateRunning, runtime.StateRunning, runtime.StateExited), nil, nil)
	if got := summary(plan); got != "Stop demo-api-1\nStop demo-db-1" {
		t.Errorf("plan:\n%s", got)
	}
	if db := plan.Find(KindContainer, "demo-db-1", StopContainer); !slices.Equal(db.After, []string{"Container:demo-api-1/Stop"}) {
		t.Errorf("db's stop after %v, want api's", db.After)
	}
}

func TestRestartOrdersByDependenciesAndTakesRestartDependents(t *testing.T) {
	obs := labelledChain(runtime.StateRunning, runtime.StateRunning, runtime.StateRunning)
	plan, err := Restart(obs, []string{"db"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// api depends on db with restart: true; web depends on api without it.
	if got := summary(plan); got != "Restart demo-api-1\nRestart demo-db-1" {
		t.Errorf("restart db:\n%s", got)
	}
	api := plan.Find(KindContainer, "demo-api-1", RestartContainer)
	if !slices.Equal(api.After, []string{"Container:demo-db-1/Restart"}) || len(api.Waits) != 1 || api.Waits[0].Condition != "service_healthy" {
		t.Errorf("api: after %v, waits %+v", api.After, api.Waits)
	}
	if plan, _ := Restart(obs, []string{"db"}, true, nil); summary(plan) != "Restart demo-db-1" {
		t.Errorf("restart --no-deps db:\n%s", summary(plan))
	}
	if plan, _ := Restart(obs, nil, false, nil); len(plan.Steps) != 3 {
		t.Errorf("restart of everything:\n%s", summary(plan))
	}
}

func TestKillSignalsRunningContainers(t *testing.T) {
	plan := Kill(labelledChain(runtime.StateRunning, runtime.StateExited, runtime.StateRunning), []string{"db", "api"}, "SIGTERM")
	if got := plan.String(); got != "Container demo-db-1  Kill (SIGTERM)\n" {
		t.Errorf("plan:\n%s", got)
	}
}

func TestRemoveWithStopStopsInOrderThenRemoves(t *testing.T) {
	plan := Remove(labelledChain(runtime.StateRunning, runtime.StateRunning, runtime.StateExited).Containers, RemoveOptions{Stop: true, Force: true})
	if got := summary(plan); got != "Stop demo-api-1\nStop demo-db-1\nRemove demo-api-1\nRemove demo-db-1\nRemove demo-web-1" {
		t.Errorf("plan:\n%s", got)
	}
	// web is not running: its removal goes at once; api's waits for api's stop.
	if web := plan.Find(KindContainer, "demo-web-1", RemoveContainer); len(web.After) != 0 || !web.Force {
		t.Errorf("web's removal: %+v", web)
	}
	if plan := Remove(labelledChain(runtime.StateExited, runtime.StateExited, runtime.StateExited).Containers, RemoveOptions{}); len(plan.Steps) != 3 {
		t.Errorf("rm of stopped containers:\n%s", summary(plan))
	}
}

func TestRunPlansTheDependenciesThenTheOneOff(t *testing.T) {
	// As `run api` loads it: api and its dependencies.
	p, err := project.Load(context.Background(), project.Options{Files: []string{writeCompose(t, chain)}, Services: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	oneoff, err := p.ContainerSpec(p.Services["api"], project.ContainerOptions{Number: 1, Oneoff: true, Name: "demo-api-run-1"})
	if err != nil {
		t.Fatal(err)
	}
	obs := Observed{Containers: []runtime.Container{running(t, p, "api", 1, "sha256:a")}, Images: map[string]string{"busybox": "sha256:a"},
		Networks: []runtime.Network{{Name: "demo_default"}}, Volumes: []runtime.Volume{{Name: "demo_data"}}}
	plan, err := Run(p, obs, RunOptions{Service: "api", Oneoff: oneoff})
	if err != nil {
		t.Fatal(err)
	}
	// api's own replica is left as it is; db, its dependency, is created and started.
	if got := summary(plan); got != "Create demo-db-1\nStart demo-db-1\nCreate demo-api-run-1\nStart demo-api-run-1" {
		t.Errorf("plan:\n%s", got)
	}
	create := plan.Find(KindContainer, "demo-api-run-1", CreateContainer)
	if !create.Quiet || !contains(create.After, "Container:demo-db-1/Start") || len(create.Waits) != 1 ||
		create.Waits[0].Condition != "service_healthy" || create.Spec.Labels[runtime.LabelImage] != "sha256:a" {
		t.Errorf("the one-off's creation: %+v", create)
	}
}

func TestPullSkipsWhatItNeedNotPull(t *testing.T) {
	p := load(t, `
services:
  a: {image: present, pull_policy: missing}
  b: {image: missing, pull_policy: missing}
  c: {image: local, pull_policy: never}
  d: {image: buildable, build: .}
  e: {image: present}
  f: {image: again}
`)
	obs := Observed{Images: map[string]string{"present": "sha256:p", "again": "sha256:a"}}
	plan := Pull(p, obs, PullOptions{IgnoreBuildable: true, IgnoreFailures: true})
	want := "Image present  Skip (Skipped - Image is already present locally)\nImage missing  Pull\nImage local  Skip (Skipped)\n" +
		"Image buildable  Skip (Skipped - Image can be built)\nImage again  Pull\n"
	if got := plan.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if st := plan.Find(KindImage, "missing", PullImage); !st.Optional || st.Service != "b" {
		t.Errorf("pull of missing: %+v", st)
	}
}

func TestBuildBuildsEveryServiceWithABuildSection(t *testing.T) {
	p := load(t, "services:\n  app: {build: .}\n  db: {image: busybox}\n")
	v := "1"
	plan, err := Build(p, BuildOptions{NoCache: true, Args: map[string]*string{"V": &v}})
	if err != nil {
		t.Fatal(err)
	}
	st := plan.Find(KindImage, "demo-app", BuildImage)
	if len(plan.Steps) != 1 || st == nil || !st.Build.NoCache || *st.Build.Args["V"] != "1" {
		t.Errorf("plan:\n%s", plan)
	}
}

func TestBuildWaitsForTheServicesItsContextsName(t *testing.T) {
	p := load(t, `
services:
  base: {build: ./base}
  app:
    build:
      context: .
      additional_contexts: {base: "service:base"}
`)
	plan, err := Build(p, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	app, base := plan.Find(KindImage, "demo-app", BuildImage), plan.Find(KindImage, "demo-base", BuildImage)
	if app == nil || base == nil || !slices.Contains(app.After, base.ID) {
		t.Fatalf("plan:\n%s\napp's build does not wait for base's", plan)
	}
	if got := app.Build.Contexts["base"]; got != "docker-image://demo-base" {
		t.Errorf("the context service:base is %q, want base's image", got)
	}

	cycle := load(t, `
services:
  a:
    build: {context: ., additional_contexts: {b: "service:b"}}
  b:
    build: {context: ., additional_contexts: {a: "service:a"}}
`)
	if _, err := Build(cycle, BuildOptions{}); err == nil || !strings.Contains(err.Error(), "each need the other's image") {
		t.Errorf("two builds that need each other = %v, want an error", err)
	}
}
