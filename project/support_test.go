package project

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// composeKeys lists the key paths of compose-go's types that a compose file can set, as Keys
// writes them, below root (a table path) of type t. Keys under one that table refuses as a
// whole are left out: they need no entries.
func composeKeys(table map[string]Support, root string, t reflect.Type) []string {
	var out []string
	var visit func(path string, t reflect.Type, depth int)
	visit = func(path string, t reflect.Type, depth int) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if depth > 12 {
			return // a recursive type: compose-go has none today
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			if nested(t.Elem()) {
				visit(path+"[]", t.Elem(), depth+1)
			}
		case reflect.Map:
			if nested(t.Elem()) {
				visit(path+".*", t.Elem(), depth+1)
			}
		case reflect.Struct:
			eachKey(t, func(f reflect.StructField, name string, _ []int) {
				p := strings.TrimPrefix(path+"."+name, ".")
				out = append(out, p)
				if s, ok := table[p]; ok && s.whole() {
					return
				}
				visit(p, f.Type, depth+1)
			})
		}
	}
	visit(root, t, 0)
	return out
}

// coverage compares table with compose-go's types: missing are keys a file can set that the
// table does not classify, stale are entries for keys that do not exist.
func coverage(table map[string]Support) (missing, stale []string) {
	for _, k := range composeKeys(table, "", reflect.TypeOf(types.Project{})) {
		if _, ok := table[k]; !ok {
			missing = append(missing, k)
		}
	}
	// Entries under a key refused as a whole are not needed, but they are not stale: they
	// apply once that key is built.
	seen := map[string]bool{}
	for _, k := range composeKeys(nil, "", reflect.TypeOf(types.Project{})) {
		seen[k] = true
	}
	for k := range table {
		if !seen[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	return missing, stale
}

func TestKeysCoverEveryComposeField(t *testing.T) {
	missing, stale := coverage(Keys)
	for _, k := range missing {
		t.Errorf("%s: compose-go has this key and project.Keys does not classify it: add it as Implemented (and make every runtime honour it) or refused with what to do", k)
	}
	for _, k := range stale {
		t.Errorf("%s: project.Keys lists a key compose-go does not have: remove the entry", k)
	}
	if n := len(composeKeys(nil, "", reflect.TypeOf(types.Project{}))); n < 300 {
		t.Errorf("the walk found only %d keys: it no longer reaches into compose-go's nested types", n)
	}
}

func TestCoverageNamesAKeyTheTableLacks(t *testing.T) {
	for _, key := range []string{"services.*.ulimits", "services.*.ulimits.*.soft", "services.*.healthcheck.retries", "volumes.*.driver_opts"} {
		table := maps.Clone(Keys)
		delete(table, key)
		missing, _ := coverage(table)
		if key == "services.*.ulimits" {
			// Its children are listed still; only the key itself is missing.
			if !slices.Contains(missing, key) {
				t.Errorf("without %s, coverage reports missing %v", key, missing)
			}
			continue
		}
		if !slices.Equal(missing, []string{key}) {
			t.Errorf("without %s, coverage reports missing %v", key, missing)
		}
	}
	table := maps.Clone(Keys)
	table["services.*.colour"] = Implemented
	if _, stale := coverage(table); !slices.Equal(stale, []string{"services.*.colour"}) {
		t.Errorf("an entry for a key compose-go lacks: stale = %v", stale)
	}
}

func TestEveryRefusalSaysWhatToDo(t *testing.T) {
	for key, s := range Keys {
		for _, r := range s {
			if r.Runtime != AllRuntimes && r.Runtime != RuntimeEmbedded && r.Runtime != RuntimeDocker {
				t.Errorf("%s: refused on unknown runtime %q", key, r.Runtime)
			}
			if !strings.Contains(r.Reason, ":") || len(r.Reason) < 25 {
				t.Errorf("%s: reason %q does not say why and what to do (\"why: what to do\")", key, r.Reason)
			}
		}
	}
}

func loadYAML(t *testing.T, yaml string) *Project {
	t.Helper()
	p, err := Load(context.Background(), Options{Files: []string{write(t, yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckSupportPassesWhatEveryRuntimeHonours loads a file using many implemented keys,
// long syntax included, so that the defaults compose-go fills in trip no refusal.
func TestCheckSupportPassesWhatEveryRuntimeHonours(t *testing.T) {
	p := loadYAML(t, `
services:
  web:
    image: busybox
    build:
      context: .
      args: {A: "1"}
      labels: {l: v}
    command: ["sh", "-c", "sleep 1"]
    environment: {A: b}
    ports:
      - "8080:80"
      - target: 81
        published: "8081"
        mode: host
        protocol: udp
    volumes:
      - data:/data
      - ./src:/src:ro
      - type: bind
        source: ./other
        target: /other
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1000}
    networks:
      front:
        aliases: [w]
        priority: 10
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.5", memory: 64m}
        reservations: {memory: 32m}
      restart_policy: {condition: on-failure, max_attempts: 3}
    depends_on:
      db: {condition: service_healthy}
    logging:
      driver: json-file
      options: {max-size: 1m}
    x-anything: {a: 1}
  db:
    image: busybox
    healthcheck: {test: ["CMD", "true"]}
networks:
  front: {}
volumes:
  data: {labels: {a: b}}
x-top: 1
`)
	for _, rt := range []string{RuntimeEmbedded, RuntimeDocker} {
		if err := p.CheckSupport(rt); err != nil {
			t.Errorf("%s: %v", rt, err)
		}
	}
}

func TestCheckSupportRefusesNamingTheKey(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		runtime string
		want    []string // every fragment must appear in the error; nil: no error
	}{
		{"a key refused everywhere", "services:\n  web:\n    image: busybox\n    external_links: [other]\n", RuntimeDocker,
			[]string{"compose.yaml", "services.web.external_links is not supported by comp", "networks:", "nothing was changed"}},
		{"a key refused on one runtime", "services:\n  web:\n    image: busybox\n    deploy:\n      restart_policy: {condition: any, delay: 5s}\n", RuntimeDocker,
			[]string{"services.web.deploy.restart_policy.delay is not supported by the docker runtime", "--runtime embedded"}},
		{"the same key on the other runtime", "services:\n  web:\n    image: busybox\n    deploy:\n      restart_policy: {condition: any, delay: 5s}\n", RuntimeEmbedded, nil},
		{"a value every runtime honours", "services:\n  web:\n    image: busybox\n    isolation: default\n", RuntimeEmbedded, nil},
		{"a value refused", "services:\n  web:\n    image: busybox\n    isolation: hyperv\n", RuntimeEmbedded,
			[]string{"services.web.isolation", "Windows"}},
		{"a key in a list item", "services:\n  web:\n    image: busybox\n    volumes:\n      - type: bind\n        source: .\n        target: /x\n        bind: {propagation: shared}\n", RuntimeDocker,
			[]string{"services.web.volumes[0].bind.propagation"}},
		{"a key under a map", "services:\n  web:\n    image: busybox\n    networks:\n      n:\n        link_local_ips: [169.254.1.1]\nnetworks:\n  n: {}\n", RuntimeEmbedded,
			[]string{"services.web.networks.n.link_local_ips"}},
		{"a volume the services use", "services:\n  web:\n    image: busybox\n    volumes: [data:/d]\nvolumes:\n  data:\n    driver_opts: {type: tmpfs, device: tmpfs}\n", RuntimeEmbedded,
			[]string{"volumes.data.driver_opts is not supported by the embedded runtime"}},
		{"a volume no service uses is not made, so not checked", "services:\n  web:\n    image: busybox\nvolumes:\n  data:\n    driver_opts: {type: tmpfs, device: tmpfs}\n", RuntimeEmbedded, nil},
		{"every refused key at once, sorted", "services:\n  b:\n    image: busybox\n    cpu_count: 2\n  a:\n    image: busybox\n    cpu_percent: 50\n", RuntimeEmbedded,
			[]string{"2 keys cannot be honoured", "services.a.cpu_percent", "services.b.cpu_count"}},
		{"a refused subtree is named once", "services:\n  web:\n    image: busybox\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n", RuntimeDocker,
			[]string{"services.web.deploy.placement is not supported by comp: deploy.placement is for Swarm"}},
		{"log options the embedded runtime honours", "services:\n  web:\n    image: busybox\n    logging: {options: {max-size: 1m, max-file: \"3\"}}\n", RuntimeEmbedded, nil},
		{"a log option it does not", "services:\n  web:\n    image: busybox\n    logging: {options: {max-size: 1m, compress: \"true\"}}\n", RuntimeEmbedded,
			[]string{"services.web.logging.options is not supported by the embedded runtime", "max-size and max-file only"}},
		{"a network's MTU on embedded", "services:\n  web:\n    image: busybox\n    networks: [n]\nnetworks:\n  n: {driver_opts: {com.docker.network.driver.mtu: \"1400\"}}\n", RuntimeEmbedded, nil},
		{"another bridge option on embedded", "services:\n  web:\n    image: busybox\n    networks: [n]\nnetworks:\n  n: {driver_opts: {com.docker.network.bridge.name: br0}}\n", RuntimeEmbedded,
			[]string{"networks.n.driver_opts is not supported by the embedded runtime"}},
		{"models", "services:\n  web:\n    image: busybox\nmodels:\n  m:\n    model: ai/smollm2\n", RuntimeDocker,
			[]string{"models is not supported by comp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadYAML(t, tc.yaml).CheckSupport(tc.runtime)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("errors.Is(%v, ErrUnsupported) is false", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Count(err.Error(), "services.web.deploy.placement") > 1 {
				t.Errorf("a refused subtree is reported more than once: %v", err)
			}
		})
	}
}

func TestCheckSupportRefusesAKeyTheTableLacks(t *testing.T) {
	p := loadYAML(t, "services:\n  web:\n    image: busybox\n    read_only: true\n")
	saved := Keys["services.*.read_only"]
	delete(Keys, "services.*.read_only")
	defer func() { Keys["services.*.read_only"] = saved }()
	err := p.CheckSupport(RuntimeDocker)
	if err == nil || !strings.Contains(err.Error(), "services.web.read_only is not known to comp's key table") {
		t.Fatalf("a key the table lacks: %v", err)
	}
}

// The examples in the README must come up on both runtimes: no key of theirs is refused.
func TestExamplesUseOnlySupportedKeys(t *testing.T) {
	files, err := filepath.Glob("../examples/*/compose.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		p, err := Load(context.Background(), Options{Files: []string{f}})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, rt := range []string{RuntimeEmbedded, RuntimeDocker} {
			if err := p.CheckSupport(rt); err != nil {
				t.Errorf("%s on %s: %v", f, rt, err)
			}
		}
	}
}

func TestCheckBuildSupportLooksAtBuildsOnly(t *testing.T) {
	p := loadYAML(t, "services:\n  web:\n    image: busybox\n    cpu_count: 2\n    build:\n      context: .\n      cache_to: [type=local,dest=/tmp/c]\n  db:\n    image: busybox\n    external_links: [x]\n")
	err := p.CheckBuildSupport(RuntimeEmbedded)
	if err == nil || !strings.Contains(err.Error(), "services.web.build.cache_to is not supported") {
		t.Fatalf("a refused build key: %v", err)
	}
	if strings.Contains(err.Error(), "cpu_count") || strings.Contains(err.Error(), "external_links") {
		t.Errorf("build refuses keys of the containers: %v", err)
	}
	if err := loadYAML(t, "services:\n  web:\n    image: busybox\n    cpu_count: 2\n    build: .\n").CheckBuildSupport(RuntimeDocker); err != nil {
		t.Errorf("a plain build: %v", err)
	}
}
