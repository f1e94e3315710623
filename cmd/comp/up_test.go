package main

import (
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/project"
	"github.com/comp-dev/comp/runtime"
)

func TestUpFlagCombinations(t *testing.T) {
	tests := []struct {
		name    string
		opts    upOptions
		wantErr string
		check   func(t *testing.T, o upOptions)
	}{
		{name: "--exit-code-from implies --abort-on-container-exit", opts: upOptions{exitCodeFrom: "web"},
			check: func(t *testing.T, o upOptions) {
				if !o.abortOnExit {
					t.Error("abortOnExit not set")
				}
			}},
		{name: "--exit-code-from goes with --abort-on-container-failure", opts: upOptions{exitCodeFrom: "web", abortOnFailure: true},
			check: func(t *testing.T, o upOptions) {
				if o.abortOnExit {
					t.Error("abortOnExit set along with abortOnFailure")
				}
			}},
		{name: "--wait implies -d", opts: upOptions{wait: true},
			check: func(t *testing.T, o upOptions) {
				if !o.detach {
					t.Error("detach not set")
				}
			}},
		{name: "both abort flags", opts: upOptions{abortOnExit: true, abortOnFailure: true},
			wantErr: "--abort-on-container-failure cannot be combined with --abort-on-container-exit"},
		{name: "--wait with an abort", opts: upOptions{wait: true, exitCodeFrom: "web"},
			wantErr: "--wait cannot be combined with --abort-on-container-exit or --attach"},
		{name: "--wait with --attach", opts: upOptions{wait: true, attach: []string{"web"}},
			wantErr: "--wait cannot be combined with --abort-on-container-exit or --attach"},
		{name: "--wait with --no-start", opts: upOptions{wait: true, noStart: true},
			wantErr: "--wait cannot be combined with --no-start"},
		{name: "-d with --abort-on-container-failure", opts: upOptions{detach: true, abortOnFailure: true},
			wantErr: "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure or --attach"},
		{name: "a negative --wait-timeout", opts: upOptions{wait: true, waitTimeout: -1},
			wantErr: "invalid --wait-timeout -1: use a number of seconds"},
		{name: "-d with --no-attach", opts: upOptions{detach: true, noAttach: []string{"web"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			err := o.validate()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("validate() = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate() = %v", err)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestUpFlagsParse(t *testing.T) {
	cmd := newUpCmd(&globalOptions{streams: &IOStreams{}})
	if err := cmd.ParseFlags([]string{"--attach", "a", "--attach", "b", "--no-attach", "c", "--exit-code-from", "a",
		"--abort-on-container-failure", "--timestamps", "--wait-timeout", "7"}); err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags()
	attach, _ := f.GetStringArray("attach")
	noAttach, _ := f.GetStringArray("no-attach")
	from, _ := f.GetString("exit-code-from")
	fail, _ := f.GetBool("abort-on-container-failure")
	ts, _ := f.GetBool("timestamps")
	timeout, _ := f.GetInt("wait-timeout")
	if !slices.Equal(attach, []string{"a", "b"}) || !slices.Equal(noAttach, []string{"c"}) || from != "a" || !fail || !ts || timeout != 7 {
		t.Errorf("parsed attach %q no-attach %q exit-code-from %q failure %v timestamps %v wait-timeout %d",
			attach, noAttach, from, fail, ts, timeout)
	}
}

// testProject is a project of the given services, with depends_on conditions as dependent ->
// dependency -> condition.
func testProject(services []string, deps map[string]map[string]string) *project.Project {
	p := &types.Project{Name: "demo", Services: types.Services{}}
	for _, s := range services {
		cfg := types.ServiceConfig{Name: s}
		for dep, cond := range deps[s] {
			if cfg.DependsOn == nil {
				cfg.DependsOn = types.DependsOnConfig{}
			}
			cfg.DependsOn[dep] = types.ServiceDependency{Condition: cond, Required: true}
		}
		p.Services[s] = cfg
	}
	return &project.Project{Project: p}
}

func TestAttachedServices(t *testing.T) {
	p := testProject([]string{"web", "db", "cache"}, nil)
	tests := []struct {
		name             string
		attach, noAttach []string
		want             []string
		wantErr          string
	}{
		{name: "every service by default", want: []string{"cache", "db", "web"}},
		{name: "--attach restricts", attach: []string{"web", "db", "web"}, want: []string{"db", "web"}},
		{name: "--no-attach leaves out", noAttach: []string{"db"}, want: []string{"cache", "web"}},
		{name: "--no-attach of every attached service", attach: []string{"db"}, noAttach: []string{"db"}, want: nil},
		{name: "--attach of an unknown service", attach: []string{"web", "nosuch"},
			wantErr: "cannot attach to services not included in up: nosuch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := attachedServices(p, &upOptions{attach: tt.attach, noAttach: tt.noAttach})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("attachedServices = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAttachedServicesLeaveOutAttachFalse(t *testing.T) {
	p := testProject([]string{"web", "db", "cache"}, nil)
	no := false
	cache := p.Services["cache"]
	cache.Attach = &no
	p.Services["cache"] = cache
	for _, tt := range []struct {
		name             string
		attach, noAttach []string
		want             []string
	}{
		{name: "by default", want: []string{"db", "web"}},
		{name: "with --no-attach", noAttach: []string{"db"}, want: []string{"web"}},
		{name: "unless --attach names it", attach: []string{"cache", "web"}, want: []string{"cache", "web"}},
	} {
		got, err := attachedServices(p, &upOptions{attach: tt.attach, noAttach: tt.noAttach})
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: attachedServices = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestExitPolicy(t *testing.T) {
	exited := func(service string, code int) runtime.Container {
		c := container("demo", service, 1, runtime.StateExited)
		c.ExitCode = code
		return c
	}
	restarting := container("demo", "web", 1, runtime.StateRestarting)
	type exit struct {
		c    runtime.Container
		code int
	}
	tests := []struct {
		name        string
		opts        upOptions
		exits       []exit
		wantAborted bool
		wantCode    int
	}{
		{name: "no flag: exits abort nothing", exits: []exit{{exited("web", 3), 3}}, wantCode: 0},
		{name: "--abort-on-container-exit: the first exit's code", opts: upOptions{abortOnExit: true},
			exits: []exit{{exited("web", 0), 0}, {exited("db", 4), 4}}, wantAborted: true, wantCode: 0},
		{name: "--abort-on-container-exit on a failure", opts: upOptions{abortOnExit: true},
			exits: []exit{{exited("web", 3), 3}, {exited("db", 0), 0}}, wantAborted: true, wantCode: 3},
		{name: "--abort-on-container-failure lets exit 0 pass", opts: upOptions{abortOnFailure: true},
			exits: []exit{{exited("init", 0), 0}}, wantAborted: false, wantCode: 0},
		{name: "--abort-on-container-failure aborts on the failure", opts: upOptions{abortOnFailure: true},
			exits: []exit{{exited("init", 0), 0}, {exited("web", 2), 2}}, wantAborted: true, wantCode: 2},
		{name: "--exit-code-from: that service's code, even when another aborted", opts: upOptions{abortOnExit: true, exitCodeFrom: "db"},
			exits: []exit{{exited("web", 1), 1}, {exited("db", 143), 143}}, wantAborted: true, wantCode: 143},
		{name: "--exit-code-from: its first exit counts", opts: upOptions{abortOnExit: true, exitCodeFrom: "web"},
			exits: []exit{{exited("web", 0), 0}, {exited("web", 9), 9}}, wantAborted: true, wantCode: 0},
		{name: "an exit its restart policy follows is none", opts: upOptions{abortOnExit: true, exitCodeFrom: "web"},
			exits: []exit{{restarting, 1}}, wantAborted: false, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newExitPolicy(&tt.opts)
			for _, x := range tt.exits {
				e.exited(x.c, x.code)
			}
			if got := e.hasAborted(); got != tt.wantAborted {
				t.Errorf("aborted = %v, want %v", got, tt.wantAborted)
			}
			err := e.status()
			code := 0
			if st, ok := err.(*exitStatus); ok {
				code = st.code
			} else if err != nil {
				t.Fatalf("status() = %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
		})
	}
}
