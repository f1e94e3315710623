package supervisor

import (
	"net/netip"
	"path/filepath"
	"time"

	"github.com/comp-dev/comp/runtime/embedded/container"
	"github.com/comp-dev/comp/runtime/embedded/network"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// adopt takes over the project's containers after the supervisor (re)started: those still
// running are watched again and their output read on from their FIFOs; those that were
// running but are gone (the supervisor died with them, or the machine rebooted) are recorded as
// exited and restarted when their policy says so, as Docker does at boot.
func (s *Supervisor) adopt() {
	records, err := s.layout.Records()
	if err != nil {
		s.logger.Printf("read records: %v", err)
		return
	}
	for _, listed := range records {
		if listed.Project() != s.project {
			continue
		}
		if listed.State != state.Running && listed.State != state.Restarting {
			continue
		}
		e, err := s.entry(listed.ID)
		if err != nil {
			continue
		}
		e.op.Lock()
		// The entry's record, not the one just listed: that is the one saved below.
		rec := s.record(e)
		c, err := s.mgr.Load(rec.ID)
		if err == nil && c.Running() {
			out, lerr := s.openLog(rec)
			if lerr == nil {
				copied := s.copyOutput(rec, out)
				exited := make(chan struct{})
				net := s.readopt(e)
				s.mu.Lock()
				e.c, e.exited, e.net = c, exited, net
				s.mu.Unlock()
				go s.watch(e, c, exited, copied, out, nil)
				if img, err := s.images.Get(rec.ImageID); err == nil {
					s.startProbe(e, healthcheck(rec.Spec, img.Config), exited, rec.StartedAt)
				}
				e.op.Unlock()
				continue
			}
			s.logger.Printf("adopt %s: %v", rec.Name, lerr)
		}
		if c != nil {
			c.Destroy()
		}
		if bridged(rec.Spec) {
			s.disconnect(rec, &netsetup{netns: filepath.Join(s.layout.Run, "netns", rec.ID)})
		}
		container.UnmountRootfs(filepath.Join(s.layout.Container(rec.ID), "fs"))
		// Its exit code died with its parent: Docker reports such a container as 255.
		now := time.Now().UTC()
		again := false
		s.update(e, func(r *state.Record) {
			r.State, r.Pid, r.ExitCode, r.FinishedAt = state.Exited, 0, 255, now
			r.Endpoints, r.Ports = nil, nil
			again, _ = e.tracker.Exited(255, r.StartedAt, now, r.StoppedByUser)
		})
		s.save(e)
		if again {
			if err := s.run(e); err != nil {
				s.logger.Printf("restart %s after adoption: %v", rec.Name, err)
			}
		}
		e.op.Unlock()
	}
}

// readopt takes over the network of a running bridged container: its namespace and endpoints
// outlived the dead supervisor, but its published ports and its networks' DNS servers did not.
func (s *Supervisor) readopt(e *entry) *netsetup {
	rec := s.record(e)
	if !bridged(rec.Spec) {
		return nil
	}
	ns := &netsetup{netns: filepath.Join(s.layout.Run, "netns", rec.ID)}
	for _, ep := range rec.Endpoints {
		if info, err := s.nets.Get(ep.Network); err == nil {
			s.serveDNS(info)
		}
	}
	if len(rec.Spec.Ports) > 0 && len(rec.Endpoints) > 0 {
		ip, err := netip.ParseAddr(rec.Endpoints[0].IP)
		if err == nil {
			proxy, ports, err := network.Publish(rec.Spec.Ports, ip)
			if err != nil {
				s.logger.Printf("publish the ports of %s again: %v", rec.Name, err)
			} else {
				ns.proxy = proxy
				s.update(e, func(r *state.Record) { r.Ports = ports })
				s.save(e)
			}
		}
	}
	return ns
}
