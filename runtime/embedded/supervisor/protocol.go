// Package supervisor is the detached process that owns a project's containers on the embedded
// runtime: it starts them (so it can wait on them), applies restart policies, copies their
// output to log files, and serves comp commands over a unix socket. Containers outlive it; a
// new supervisor re-adopts them from their records.
package supervisor

import (
	"errors"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// Operations of the protocol: one JSON request per line, one JSON response per line, except
// OpEvents which answers with events until the client hangs up.
const (
	OpPing    = "ping"
	OpCreate  = "create"
	OpStart   = "start"
	OpStop    = "stop"
	OpKill    = "kill"
	OpRestart = "restart"
	OpRemove  = "remove"
	OpRename  = "rename"
	OpResize  = "resize"
	OpEvents  = "events"
)

// eventsSubscribed is the Action of the first message on an OpEvents connection: the
// subscription is in place, and every later event reaches the client.
const eventsSubscribed = "comp:subscribed"

// Request is one call to the supervisor.
type Request struct {
	Op      string
	ID      string                 `json:",omitempty"`
	Spec    *runtime.ContainerSpec `json:",omitempty"`
	Timeout *time.Duration         `json:",omitempty"`
	Signal  string                 `json:",omitempty"`
	Name    string                 `json:",omitempty"`
	Force   bool                   `json:",omitempty"`
	Volumes bool                   `json:",omitempty"`
	// Width and Height are a terminal's size in characters, for OpResize.
	Width  uint16 `json:",omitempty"`
	Height uint16 `json:",omitempty"`
}

// Response answers a Request. Class carries the runtime error class so errors.Is works across
// the socket.
type Response struct {
	ID    string `json:",omitempty"`
	Error string `json:",omitempty"`
	Class string `json:",omitempty"`
}

var classes = map[string]error{
	"not found":        runtime.ErrNotFound,
	"conflict":         runtime.ErrConflict,
	"invalid argument": runtime.ErrInvalidArgument,
	"unavailable":      runtime.ErrUnavailable,
	"not implemented":  runtime.ErrNotImplemented,
}

// encodeError turns err into a response's Error and Class.
func encodeError(err error) Response {
	if err == nil {
		return Response{}
	}
	r := Response{Error: err.Error()}
	for name, class := range classes {
		if errors.Is(err, class) {
			r.Class = name
		}
	}
	return r
}

// decodeError turns a response back into an error of the same class.
func (r Response) err() error {
	if r.Error == "" {
		return nil
	}
	err := errors.New(r.Error)
	if class, ok := classes[r.Class]; ok {
		return runtime.Classify(class, err)
	}
	return err
}
