// Package reconcile runs a plan against a runtime: each step once the steps it waits for are
// done, with bounded concurrency, waiting on depends_on conditions before starting a container,
// and reporting progress as it goes. It knows nothing of which backend it drives.
package reconcile

// State is where a progress line stands.
type State int

// Progress states.
const (
	Working State = iota
	Done
	Warning
	Error
)

// Event is one progress update about one object, e.g. Container proj-web-1 "Started".
type Event struct {
	Kind   string // Image, Network, Volume, Container
	Name   string
	Status string // Creating, Created, Starting, Started, Running, …
	State  State
	// Detail is extra text: the reason of a recreate, an error message.
	Detail string
}

// ID identifies the object of an event, as progress output shows it: "Container proj-web-1".
func (e Event) ID() string { return e.Kind + " " + e.Name }

// Progress receives events; it must be safe for concurrent use. A nil Progress discards them.
type Progress func(Event)

func (p Progress) emit(kind, name, status string, state State, detail string) {
	if p != nil {
		p(Event{Kind: kind, Name: name, Status: status, State: state, Detail: detail})
	}
}
