package state

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// Names answers whether a container name is taken, for the check that makes names unique across
// projects (done under the machine-wide names lock). Reading every record on the machine for
// each create made that check O(N) record reads and JSON decodes per container, all under the
// lock: Names reads a record again only when its file was replaced, which every write of a
// record does (WriteFileAtomic renames a new file over it, so the inode number changes).
type Names struct {
	layout Layout
	mu     sync.Mutex
	byID   map[string]namedRecord
}

// namedRecord is what Names keeps of one record file.
type namedRecord struct {
	ino  uint64
	name string
}

// NewNames returns the names of l's containers, read as needed.
func NewNames(l Layout) *Names { return &Names{layout: l, byID: map[string]namedRecord{}} }

// Owner returns the ID of the container called name, if there is one. Like Layout.Records, it
// skips a folder without a readable record (a create that crashed half-way).
func (n *Names) Owner(name string) (id string, ok bool, err error) {
	entries, err := os.ReadDir(n.layout.Containers())
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		cid := e.Name()
		seen[cid] = true
		fi, err := os.Stat(n.layout.recordPath(cid))
		if err != nil {
			delete(n.byID, cid)
			continue
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st == nil {
			delete(n.byID, cid)
			continue
		}
		cached, known := n.byID[cid]
		if !known || cached.ino != st.Ino {
			var r struct{ Name string }
			if ReadJSON(n.layout.recordPath(cid), &r) != nil {
				delete(n.byID, cid)
				continue
			}
			cached = namedRecord{ino: st.Ino, name: r.Name}
			n.byID[cid] = cached
		}
		if cached.name == name {
			id, ok = cid, true
		}
	}
	for cid := range n.byID {
		if !seen[cid] {
			delete(n.byID, cid)
		}
	}
	return id, ok, nil
}
