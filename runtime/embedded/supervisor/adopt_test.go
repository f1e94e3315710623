package supervisor

import (
	"log"
	"os"
	"testing"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/state"
)

// A container recorded as running that died with its supervisor (or in a reboot) is recorded
// exited with 255 by the next supervisor, as Docker reports it.
func TestAdoptRecordsADeadContainerExited(t *testing.T) {
	s := newTestSupervisor(t)
	id, err := s.create(testSpec("web", "sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.layout.ReadRecord(id)
	if err != nil {
		t.Fatal(err)
	}
	rec.State, rec.Pid, rec.StartedAt = state.Running, 1<<22+1, time.Now().UTC() // above pid_max: nobody's
	if err := s.layout.WriteRecord(rec); err != nil {
		t.Fatal(err)
	}

	next := newSupervisor(s.layout, s.project, s.images, s.mgr, nil, log.New(os.Stderr, t.Name()+": supervisor: ", log.Lmicroseconds))
	next.adopt()
	got, err := s.layout.ReadRecord(id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != state.Exited || got.ExitCode != 255 || got.Pid != 0 {
		t.Errorf("record after adoption: state %s, exit code %d, pid %d; want exited, 255, 0", got.State, got.ExitCode, got.Pid)
	}
	if e, _ := next.entry(id); e.rec.State != state.Exited {
		t.Errorf("the supervisor believes the container %s", e.rec.State)
	}
}
