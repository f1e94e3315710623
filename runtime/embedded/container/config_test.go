package container

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestResolveProcess(t *testing.T) {
	img := v1.Config{
		Entrypoint: []string{"/entry"},
		Cmd:        []string{"serve", "--port=80"},
		Env:        []string{"PATH=/img/bin", "A=img", "B=img"},
		WorkingDir: "/app",
		User:       "www",
	}
	for _, tc := range []struct {
		name string
		spec runtime.ContainerSpec
		img  v1.Config
		want Process
	}{
		{
			name: "takes everything from the image",
			spec: runtime.ContainerSpec{},
			img:  img,
			want: Process{Args: []string{"/entry", "serve", "--port=80"}, Env: []string{"PATH=/img/bin", "A=img", "B=img"}, Cwd: "/app", User: "www"},
		},
		{
			name: "command replaces the image's Cmd, keeps its entrypoint",
			spec: runtime.ContainerSpec{Command: []string{"migrate"}},
			img:  img,
			want: Process{Args: []string{"/entry", "migrate"}, Env: img.Env, Cwd: "/app", User: "www"},
		},
		{
			name: "an entrypoint clears the image's Cmd",
			spec: runtime.ContainerSpec{Entrypoint: []string{"sh"}},
			img:  img,
			want: Process{Args: []string{"sh"}, Env: img.Env, Cwd: "/app", User: "www"},
		},
		{
			name: "entrypoint and command",
			spec: runtime.ContainerSpec{Entrypoint: []string{"sh", "-c"}, Command: []string{"echo hi"}},
			img:  img,
			want: Process{Args: []string{"sh", "-c", "echo hi"}, Env: img.Env, Cwd: "/app", User: "www"},
		},
		{
			name: "an empty entrypoint clears the image's",
			spec: runtime.ContainerSpec{Entrypoint: []string{}, Command: []string{"ls"}},
			img:  img,
			want: Process{Args: []string{"ls"}, Env: img.Env, Cwd: "/app", User: "www"},
		},
		{
			name: "spec env overrides the image's; a bare key removes it; HOSTNAME and TERM added",
			spec: runtime.ContainerSpec{Env: []string{"B=spec", "C=spec", "A"}, Hostname: "web", Tty: true},
			img:  img,
			want: Process{Args: []string{"/entry", "serve", "--port=80"}, Env: []string{"PATH=/img/bin", "HOSTNAME=web", "TERM=xterm", "B=spec", "C=spec"}, Cwd: "/app", User: "www", Tty: true},
		},
		{
			name: "Docker's PATH and / when the image has none",
			spec: runtime.ContainerSpec{User: "1000:1000"},
			img:  v1.Config{Cmd: []string{"sh"}},
			want: Process{Args: []string{"sh"}, Env: []string{"PATH=" + defaultPath}, Cwd: "/", User: "1000:1000"},
		},
		{
			name: "spec working dir wins",
			spec: runtime.ContainerSpec{WorkingDir: "/srv/"},
			img:  img,
			want: Process{Args: []string{"/entry", "serve", "--port=80"}, Env: img.Env, Cwd: "/srv", User: "www"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveProcess(tc.spec, tc.img)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestResolveProcessErrors(t *testing.T) {
	for name, spec := range map[string]runtime.ContainerSpec{
		"no command at all":         {},
		"a relative working folder": {Command: []string{"sh"}, WorkingDir: "app"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ResolveProcess(spec, v1.Config{}); !errors.Is(err, runtime.ErrInvalidArgument) {
				t.Fatalf("error %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestCommandErrorFromLibcontainer(t *testing.T) {
	for _, tc := range []struct {
		cmd, msg string
		class    error
		code     int
	}{
		{"nope", `unable to start container process: error during container init: exec: "nope": executable file not found in $PATH`, ErrCommandNotFound, 127},
		{"/x", `error during container init: exec: "/x": stat /x: no such file or directory`, ErrCommandNotFound, 127},
		{"/etc", `exec: "/etc": is a directory`, ErrCommandNotExecutable, 126},
		{"/etc/passwd", `exec: "/etc/passwd": permission denied`, ErrCommandNotExecutable, 126},
	} {
		err := commandError(tc.cmd, errors.New(tc.msg))
		if !errors.Is(err, tc.class) {
			t.Errorf("%s: %v is not %v", tc.cmd, err, tc.class)
		}
		if code, ok := ExitCode(err); !ok || code != tc.code {
			t.Errorf("%s: exit code %d, want %d", tc.cmd, code, tc.code)
		}
	}
	other := errors.New("mount failed")
	if err := commandError("sh", other); err != other {
		t.Errorf("an unrelated error changed: %v", err)
	}
}

func TestParseSecurityOpt(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want security
		bad  bool
	}{
		{opts: nil, want: security{}},
		{opts: []string{"no-new-privileges"}, want: security{noNewPrivileges: true}},
		{opts: []string{"no-new-privileges:true"}, want: security{noNewPrivileges: true}},
		{opts: []string{"no-new-privileges=false"}, want: security{}},
		{opts: []string{"seccomp=unconfined"}, want: security{seccomp: "unconfined"}},
		{opts: []string{"seccomp:/p.json"}, want: security{seccomp: "/p.json"}},
		{opts: []string{"apparmor=unconfined", "label=disable"}, want: security{}},
		{opts: []string{"apparmor=my-profile"}, bad: true},
		{opts: []string{"no-new-privileges:maybe"}, bad: true},
		{opts: []string{"bogus"}, bad: true},
	} {
		got, err := parseSecurityOpt(tc.opts)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%q: got %+v, %v", tc.opts, got, err)
		}
	}
}

func TestCheckSecurityOptRefusesWhatCreateWould(t *testing.T) {
	if err := CheckSecurityOpt([]string{"no-new-privileges", "seccomp=unconfined"}); err != nil {
		t.Errorf("supported options refused: %v", err)
	}
	err := CheckSecurityOpt([]string{"apparmor=my-profile"})
	if !errors.Is(err, runtime.ErrNotImplemented) || !strings.Contains(err.Error(), "apparmor=my-profile") {
		t.Errorf("an AppArmor profile: %v, want ErrNotImplemented naming it", err)
	}
}
