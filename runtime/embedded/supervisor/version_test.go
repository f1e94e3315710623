package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/state"
)

// fakeOldSupervisorEnv makes the test binary a supervisor of an older comp build, listening on
// the socket the variable names: it knows no OpVersion, and exits on SIGTERM as a supervisor
// does (leaving its containers running).
const fakeOldSupervisorEnv = "COMP_TEST_FAKE_OLD_SUPERVISOR"

func fakeOldSupervisor(sock string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var req Request
				if json.NewDecoder(bufio.NewReader(conn)).Decode(&req) != nil {
					return
				}
				resp := Response{}
				if req.Op != OpPing {
					resp.Error, resp.Class = fmt.Sprintf("unknown operation %q", req.Op), "invalid argument"
				}
				_ = json.NewEncoder(conn).Encode(resp)
			}()
		}
	}()
	<-term
	l.Close()
	os.Remove(sock)
	return 0
}

func TestProtocolVersionChangesWithTheSpecsFields(t *testing.T) {
	type spec struct{ Image string }
	type specWithKey struct {
		Image   string
		Secrets []string
	}
	type renamed struct {
		Image string `json:"image"`
	}
	a := protocolVersion(reflect.TypeOf(spec{}))
	for _, other := range []reflect.Type{reflect.TypeOf(specWithKey{}), reflect.TypeOf(renamed{})} {
		if protocolVersion(other) == a {
			t.Errorf("%v has the version of %T", other, spec{})
		}
	}
	if protocolVersion(reflect.TypeOf(spec{})) != a {
		t.Error("the version is not stable")
	}
	if len(ProtocolVersion) != 16 {
		t.Errorf("ProtocolVersion = %q", ProtocolVersion)
	}
}

// A supervisor of an older comp build (no OpVersion) is stopped, so that a new one, which
// knows every key of the spec, re-adopts the containers; one of this build is kept.
func TestVerifyReplacesASupervisorOfAnotherProtocol(t *testing.T) {
	layout := state.LayoutAt(t.TempDir())
	sock := layout.Socket("p")
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	old := exec.Command(os.Args[0], "-test.run=^$")
	old.Env = append(os.Environ(), fakeOldSupervisorEnv+"="+sock)
	old.Stderr = os.Stderr
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- old.Wait() }()
	t.Cleanup(func() { old.Process.Kill() })

	var conn net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake supervisor does not answer: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := NewClient(layout, "p")
	verified.Delete(sock)
	ok, err := c.verify(context.Background(), conn)
	if err != nil || ok {
		t.Fatalf("verify of an older supervisor = %v, %v; want it replaced (false, nil)", ok, err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the old supervisor did not exit cleanly on SIGTERM: %v", err)
		}
	default:
		t.Fatal("verify returned while the old supervisor still runs: the new one could not take its lock")
	}
	if _, ok := verified.Load(sock); ok {
		t.Error("an outdated supervisor's socket is marked verified")
	}
}

func TestVerifyKeepsASupervisorOfThisProtocol(t *testing.T) {
	layout := state.LayoutAt(t.TempDir())
	sock := layout.Socket("p")
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var req Request
				if json.NewDecoder(bufio.NewReader(conn)).Decode(&req) == nil && req.Op == OpVersion {
					_ = json.NewEncoder(conn).Encode(Response{ID: ProtocolVersion})
				}
			}()
		}
	}()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	verified.Delete(sock)
	if ok, err := NewClient(layout, "p").verify(context.Background(), conn); !ok || err != nil {
		t.Fatalf("verify of a supervisor of this build = %v, %v", ok, err)
	}
	if _, ok := verified.Load(sock); !ok {
		t.Error("the socket is not remembered as verified")
	}
}
