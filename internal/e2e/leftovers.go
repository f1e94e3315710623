package e2e

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/comp-dev/comp/runtime/embedded/network"
)

// EmbeddedLeftovers lists what the embedded runtime still holds of the given containers: mounts
// of their root filesystems, cgroup folders, processes in their cgroups, libcontainer state
// and container folders. An empty list means they left nothing behind.
func EmbeddedLeftovers(ids []string) []string {
	var left []string
	mounts, _ := os.Open("/proc/self/mountinfo")
	if mounts != nil {
		sc := bufio.NewScanner(mounts)
		for sc.Scan() {
			for _, id := range ids {
				if strings.Contains(sc.Text(), id) {
					left = append(left, "mount: "+sc.Text())
				}
			}
		}
		mounts.Close()
	}
	for _, id := range ids {
		for _, dir := range []string{
			filepath.Join(StateRoot, "containers", id),
			filepath.Join(StateRoot, "run", "libcontainer", id),
		} {
			if _, err := os.Stat(dir); err == nil {
				left = append(left, "folder: "+dir)
			}
		}
	}
	// Cgroup folders named after a container, in every hierarchy (v1 and v2).
	filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		for _, id := range ids {
			if strings.Contains(d.Name(), id) {
				left = append(left, "cgroup: "+path)
				return fs.SkipDir
			}
		}
		return nil
	})
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cgroup"))
		if err != nil {
			continue
		}
		// A zombie is dead already; reaping it is its parent's business (PID 1's, for a
		// container whose supervisor was killed).
		if st, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat")); err == nil {
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && strings.HasPrefix(strings.TrimSpace(string(st[i+1:])), "Z") {
				continue
			}
		}
		for _, id := range ids {
			if strings.Contains(string(b), id) {
				left = append(left, fmt.Sprintf("process %s in the cgroup of %s", p.Name(), id[:12]))
			}
		}
	}
	return left
}

// EmbeddedNetworkLeftovers lists what the embedded runtime still holds of the given networks
// and of the given containers' endpoints on them: bridges, veths, network namespaces and
// firewall rules (comp tags each rule with its bridge's name).
func EmbeddedNetworkLeftovers(networks, ids []string) []string {
	var left []string
	for _, n := range networks {
		bridge := network.BridgeName(n)
		if _, err := netlink.LinkByName(bridge); err == nil {
			left = append(left, "bridge: "+bridge+" of network "+n)
		}
		for _, id := range ids {
			if veth := network.VethName(n, id); linkExists(veth) {
				left = append(left, "veth: "+veth)
			}
		}
		if c, err := nftables.New(); err == nil {
			rules := 0
			tables, _ := c.ListTables()
			for _, t := range tables {
				chains, _ := c.ListChainsOfTableFamily(t.Family)
				for _, ch := range chains {
					if ch.Table.Name != t.Name {
						continue
					}
					rs, _ := c.GetRules(t, ch)
					for _, r := range rs {
						if strings.Contains(string(r.UserData), "comp:"+bridge) {
							rules++
						}
					}
				}
			}
			if rules > 0 {
				left = append(left, fmt.Sprintf("%d firewall rules of %s", rules, bridge))
			}
		}
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(StateRoot, "run", "netns", id)); err == nil {
			left = append(left, "netns: "+id)
		}
	}
	return left
}

func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}
