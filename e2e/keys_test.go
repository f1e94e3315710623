package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/comp-dev/comp/internal/e2e"
	"github.com/comp-dev/comp/project"
)

// keyCase sets one compose key that some runtime refuses: service holds the lines under a
// service of its own (indented four spaces), top the top-level objects it uses, by section
// (networks, volumes, secrets, configs, models, jobs), each "NAME:\n  …". @obj@ in either is
// the name of the case's own object.
type keyCase struct {
	key     string // the key's path in project.Keys
	service string
	top     map[string]string
}

// refusedKeyCases cover every key that project.Keys refuses on some runtime
// (TestRefusedKeyCasesCoverTheTable checks it).
var refusedKeyCases = []keyCase{
	{key: "jobs", top: map[string]string{"jobs": "@obj@:\n  image: ${REGISTRY}/busybox:latest\n  triggers: {manual: true}\n"}},
	{key: "models", top: map[string]string{"models": "@obj@:\n  model: ai/smollm2\n"}},
	{key: "services.*.models", service: "    models: [@obj@]\n", top: map[string]string{"models": "@obj@:\n  model: ai/smollm2\n"}},
	{key: "services.*.platform", service: "    platform: linux/s390x\n"},
	{key: "services.*.pull_refresh_after", service: "    pull_refresh_after: daily\n"},
	{key: "services.*.provider", service: "    provider: {type: model, options: {model: ai/x}}\n"},
	{key: "services.*.pre_start", service: "    pre_start:\n      - image: ${REGISTRY}/busybox:latest\n        command: [\"true\"]\n"},
	{key: "services.*.use_api_socket", service: "    use_api_socket: true\n"},
	{key: "services.*.credential_spec", service: "    credential_spec: {file: spec.json}\n"},
	{key: "services.*.isolation", service: "    isolation: hyperv\n"},
	{key: "services.*.external_links", service: "    external_links: [other-container]\n"},
	{key: "services.*.networks.*.driver_opts", service: "    networks:\n      @obj@: {driver_opts: {a: b}}\n", top: map[string]string{"networks": "@obj@: {}\n"}},
	{key: "services.*.networks.*.gw_priority", service: "    networks:\n      @obj@: {gw_priority: 10}\n", top: map[string]string{"networks": "@obj@: {}\n"}},
	{key: "services.*.networks.*.interface_name", service: "    networks:\n      @obj@: {interface_name: front0}\n", top: map[string]string{"networks": "@obj@: {}\n"}},
	{key: "services.*.networks.*.link_local_ips", service: "    networks:\n      @obj@: {link_local_ips: [169.254.8.8]}\n", top: map[string]string{"networks": "@obj@: {}\n"}},
	{key: "services.*.networks.*.use_service_name_alias", service: "    networks:\n      @obj@: {use_service_name_alias: false}\n", top: map[string]string{"networks": "@obj@: {}\n"}},
	{key: "services.*.volumes[].bind.selinux", service: "    volumes: [\"./src-@obj@:/src:z\"]\n"},
	{key: "services.*.volumes[].bind.propagation", service: "    volumes:\n      - {type: bind, source: ./src-@obj@, target: /src, bind: {propagation: rshared}}\n"},
	{key: "services.*.volumes[].bind.recursive", service: "    volumes:\n      - {type: bind, source: ./src-@obj@, target: /src, bind: {recursive: disabled}}\n"},
	{key: "services.*.volumes[].volume.labels", service: "    volumes:\n      - {type: volume, source: @obj@, target: /d, volume: {labels: {a: b}}}\n", top: map[string]string{"volumes": "@obj@: {}\n"}},
	{key: "services.*.volumes[].volume.subpath", service: "    volumes:\n      - {type: volume, source: @obj@, target: /d, volume: {subpath: sub}}\n", top: map[string]string{"volumes": "@obj@: {}\n"}},
	{key: "services.*.volumes[].type", service: "    volumes:\n      - {type: image, source: \"${REGISTRY}/busybox:latest\", target: /img}\n"},
	{key: "services.*.volumes[].image", service: "    volumes:\n      - {type: image, source: \"${REGISTRY}/busybox:latest\", target: /img, image: {subpath: bin}}\n"},
	{key: "services.*.storage_opt", service: "    storage_opt: {size: 1G}\n"},
	{key: "services.*.logging.driver", service: "    logging: {driver: syslog}\n"},
	{key: "services.*.logging.options", service: "    logging: {options: {max-size: 1m, compress: \"true\"}}\n"},
	{key: "services.*.runtime", service: "    runtime: kata\n"},
	{key: "services.*.umask", service: "    umask: \"0077\"\n"},
	{key: "services.*.cpu_count", service: "    cpu_count: 2\n"},
	{key: "services.*.cpu_percent", service: "    cpu_percent: 50\n"},
	{key: "services.*.deploy.mode", service: "    deploy: {mode: global}\n"},
	{key: "services.*.deploy.labels", service: "    deploy: {labels: {a: b}}\n"},
	{key: "services.*.deploy.update_config", service: "    deploy: {update_config: {parallelism: 2}}\n"},
	{key: "services.*.deploy.rollback_config", service: "    deploy: {rollback_config: {parallelism: 2}}\n"},
	{key: "services.*.deploy.placement", service: "    deploy: {placement: {constraints: [node.role==manager]}}\n"},
	{key: "services.*.deploy.endpoint_mode", service: "    deploy: {endpoint_mode: dnsrr}\n"},
	{key: "services.*.deploy.resources.reservations.cpus", service: "    deploy: {resources: {reservations: {cpus: \"0.5\"}}}\n"},
	{key: "services.*.deploy.resources.reservations.generic_resources", service: "    deploy: {resources: {reservations: {generic_resources: [{discrete_resource_spec: {kind: gpu, value: 1}}]}}}\n"},
	{key: "services.*.deploy.restart_policy.delay", service: "    deploy: {restart_policy: {condition: on-failure, delay: 5s}}\n"},
	{key: "services.*.deploy.restart_policy.window", service: "    deploy: {restart_policy: {condition: on-failure, window: 30s}}\n"},
	{key: "services.*.build.secrets[].mode", service: "    build: {context: ., secrets: [{source: @obj@, mode: 0400}]}\n", top: map[string]string{"secrets": "@obj@: {file: ./s}\n"}},
	{key: "services.*.build.secrets[].uid", service: "    build: {context: ., secrets: [{source: @obj@, uid: \"1000\"}]}\n", top: map[string]string{"secrets": "@obj@: {file: ./s}\n"}},
	{key: "services.*.build.secrets[].gid", service: "    build: {context: ., secrets: [{source: @obj@, gid: \"1000\"}]}\n", top: map[string]string{"secrets": "@obj@: {file: ./s}\n"}},
	{key: "services.*.build.additional_contexts", service: "    build: {context: ., additional_contexts: {other: ./src-@obj@}}\n"},
	{key: "services.*.build.cache_from", service: "    build: {context: ., cache_from: [type=local,src=/tmp/cache]}\n"},
	{key: "services.*.build.cache_to", service: "    build: {context: ., cache_to: [type=local,dest=/tmp/cache]}\n"},
	{key: "services.*.build.no_cache_filter", service: "    build: {context: ., no_cache_filter: [stage]}\n"},
	{key: "services.*.build.provenance", service: "    build: {context: ., provenance: \"true\"}\n"},
	{key: "services.*.build.sbom", service: "    build: {context: ., sbom: \"true\"}\n"},
	{key: "services.*.build.isolation", service: "    build: {context: ., isolation: hyperv}\n"},
	{key: "networks.*.ipam.config[].aux_addresses", service: "    networks: [@obj@]\n", top: map[string]string{"networks": "@obj@:\n  ipam: {config: [{subnet: 10.231.0.0/24, aux_addresses: {host1: 10.231.0.5}}]}\n"}},
	{key: "networks.*.driver_opts", service: "    networks: [@obj@]\n", top: map[string]string{"networks": "@obj@: {driver_opts: {com.docker.network.bridge.name: br-custom}}\n"}},
	{key: "networks.*.ipam.options", service: "    networks: [@obj@]\n", top: map[string]string{"networks": "@obj@:\n  ipam: {options: {a: b}}\n"}},
	{key: "networks.*.enable_ipv4", service: "    networks: [@obj@]\n", top: map[string]string{"networks": "@obj@: {enable_ipv4: false, enable_ipv6: true}\n"}},
	{key: "volumes.*.driver", service: "    volumes: [\"@obj@:/d\"]\n", top: map[string]string{"volumes": "@obj@: {driver: nfs-plugin}\n"}},
	{key: "volumes.*.driver_opts", service: "    volumes: [\"@obj@:/d\"]\n", top: map[string]string{"volumes": "@obj@: {driver_opts: {type: tmpfs, device: tmpfs}}\n"}},
	{key: "secrets.*.external", service: "    secrets: [@obj@]\n", top: map[string]string{"secrets": "@obj@: {external: true}\n"}},
	{key: "secrets.*.driver", service: "    secrets: [@obj@]\n", top: map[string]string{"secrets": "@obj@: {driver: vault, file: ./s}\n"}},
	{key: "secrets.*.driver_opts", service: "    secrets: [@obj@]\n", top: map[string]string{"secrets": "@obj@: {driver_opts: {a: b}, file: ./s}\n"}},
	{key: "secrets.*.template_driver", service: "    secrets: [@obj@]\n", top: map[string]string{"secrets": "@obj@: {template_driver: golang, file: ./s}\n"}},
	{key: "configs.*.external", service: "    configs: [@obj@]\n", top: map[string]string{"configs": "@obj@: {external: true}\n"}},
	{key: "configs.*.template_driver", service: "    configs: [@obj@]\n", top: map[string]string{"configs": "@obj@: {template_driver: golang, file: ./s}\n"}},
}

// unreachableKeys are keys project.Keys refuses that compose-go's schema rejects before comp
// sees them: no file can set them.
var unreachableKeys = []string{
	"services.*.dockerfile", "services.*.net", "services.*.log_driver", "services.*.log_opt", "services.*.volume_driver",
	"services.*.deploy.resources.limits.devices", "services.*.deploy.resources.limits.generic_resources",
	"services.*.deploy.resources.reservations.pids", "configs.*.driver", "configs.*.driver_opts",
}

// keyCaseFile builds a compose file from cases: one service per case (k0, k1…), each case's
// objects named o0, o1….
func keyCaseFile(cases []keyCase) string {
	var b strings.Builder
	top := map[string]*strings.Builder{}
	b.WriteString("services:\n")
	for i, c := range cases {
		obj := fmt.Sprintf("o%d", i)
		fmt.Fprintf(&b, "  k%d:\n    image: ${REGISTRY}/busybox:latest\n", i)
		b.WriteString(strings.ReplaceAll(c.service, "@obj@", obj))
		for section, body := range c.top {
			if top[section] == nil {
				top[section] = &strings.Builder{}
			}
			for _, line := range strings.SplitAfter(strings.ReplaceAll(body, "@obj@", obj), "\n") {
				if line != "" {
					top[section].WriteString("  " + line)
				}
			}
		}
	}
	sections := make([]string, 0, len(top))
	for s := range top {
		sections = append(sections, s)
	}
	sort.Strings(sections)
	for _, s := range sections {
		b.WriteString(s + ":\n" + top[s].String())
	}
	return b.String()
}

// TestRefusedKeyCasesCoverTheTable fails when a key project.Keys refuses has no case here, so
// that every refusal is shown end to end.
func TestRefusedKeyCasesCoverTheTable(t *testing.T) {
	have := map[string]bool{}
	for _, c := range refusedKeyCases {
		if s, ok := project.Keys[c.key]; !ok {
			t.Errorf("case %s: not a key of project.Keys", c.key)
		} else if len(s) == 0 {
			t.Errorf("case %s: every runtime implements the key now: remove the case (the key's own scenarios show it works)", c.key)
		}
		have[c.key] = true
	}
	for key, s := range project.Keys {
		if len(s) > 0 && !have[key] && !slices.Contains(unreachableKeys, key) {
			t.Errorf("%s is refused by project.Keys but has no case in refusedKeyCases", key)
		}
	}
}

func init() {
	scenarios = append(scenarios, scenario{
		name: "refuses every compose key it cannot honour, naming it, creating nothing",
		compose: `
services:
  web:
    image: ${REGISTRY}/busybox:latest
`,
		run: func(t *testing.T, p *e2e.Project) {
			yaml := keyCaseFile(refusedKeyCases)
			p.Write(yaml)
			for _, f := range []string{"s"} {
				if err := os.WriteFile(filepath.Join(p.Dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// What this runtime must refuse, as the table says: the check itself is unit-tested
			// in package project; here the CLI must print it and stop before making anything.
			loaded, err := project.Load(context.Background(), project.Options{Files: []string{p.ComposeFile()}, Name: p.Name})
			if err != nil {
				t.Fatalf("the cases' file does not load: %v\n%s", err, yaml)
			}
			var unsupported *project.UnsupportedError
			if err := loaded.CheckSupport(p.Runtime); !errors.As(err, &unsupported) {
				t.Fatalf("CheckSupport(%s) = %v, want the refused keys", p.Runtime, err)
			}
			refusedHere := map[string]bool{}
			for _, line := range unsupported.Keys {
				refusedHere[strings.Fields(line)[0]] = true
			}
			for i, c := range refusedKeyCases {
				refusedSomewhere := false
				for _, r := range project.Keys[c.key] {
					refusedSomewhere = refusedSomewhere || r.Runtime == project.AllRuntimes || r.Runtime == p.Runtime
				}
				if refusedSomewhere && !caseNamed(refusedHere, c, i) {
					t.Errorf("%s (service k%d) is refused on %s by the table, but the check does not name it", c.key, i, p.Runtime)
				}
			}

			for _, cmd := range [][]string{{"up", "-d"}, {"run", "--rm", "k0", "true"}} {
				r := p.Comp(cmd...)
				if r.ExitCode <= 0 {
					t.Fatalf("%s with refused keys exits %d:\n%s", cmd, r.ExitCode, r)
				}
				if !strings.Contains(r.Stderr, "compose.yaml") || !strings.Contains(r.Stderr, "nothing was changed") {
					t.Errorf("%s: the error names no file or does not say nothing was changed:\n%s", cmd, r.Stderr)
				}
			}
			r := p.Comp("up", "-d")
			for line := range refusedHere {
				if !strings.Contains(r.Stderr, line+" is not supported") {
					t.Errorf("up -d does not name %s:\n%s", line, r.Stderr)
				}
			}

			p.Write("services:\n" + servicesOnly(len(refusedKeyCases)))
			requireNothingCreated(t, p, "refused ups")
		},
	})
}

// servicesOnly is the services section of n plain services k0…: a file ps can read.
func servicesOnly(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  k%d: {image: \"${REGISTRY}/busybox:latest\"}\n", i)
	}
	return b.String()
}

// caseNamed reports whether the refused keys (as the error names them) include one of case i:
// a key of its service k<i>, of its object o<i>, or the top-level key itself.
func caseNamed(refused map[string]bool, c keyCase, i int) bool {
	for k := range refused {
		section, rest, _ := strings.Cut(k, ".")
		switch {
		case k == c.key:
			return true
		case section == "services" && strings.HasPrefix(rest, fmt.Sprintf("k%d.", i)):
			return true
		case section != "services" && strings.HasPrefix(rest, fmt.Sprintf("o%d.", i)):
			return true
		}
	}
	return false
}

// TestRefusedKeyCasesLoad loads each case alone, so that a case compose-go refuses (its schema
// changed) is named, and checks that some runtime refuses it as the table says.
func TestRefusedKeyCasesLoad(t *testing.T) {
	for _, c := range refusedKeyCases {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, []byte(keyCaseFile([]keyCase{c})), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "s"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := project.Load(context.Background(), project.Options{Files: []string{file}, Name: "keys"})
		if err != nil {
			t.Errorf("%s: the case does not load: %v", c.key, err)
			continue
		}
		refused := false
		for _, rt := range []string{project.RuntimeEmbedded, project.RuntimeDocker} {
			refused = refused || p.CheckSupport(rt) != nil
		}
		if !refused && len(project.Keys[c.key]) > 0 {
			t.Errorf("%s: no runtime refuses the case, though the table refuses the key", c.key)
		}
	}
}
