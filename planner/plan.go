package planner

import (
	"fmt"
	"strings"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// Action is what a step does.
type Action string

// The actions of a plan. Each names what happens to one object.
const (
	PullImage Action = "Pull"
	// BuildImage builds a service's image from its build: section.
	BuildImage      Action = "Build"
	CreateNetwork   Action = "CreateNetwork"
	CreateVolume    Action = "CreateVolume"
	CreateContainer Action = "Create"
	// RecreateContainer creates the replacement under a temporary name, stops and removes the
	// old container, then renames the new one: data in named volumes is never touched.
	RecreateContainer Action = "Recreate"
	StartContainer    Action = "Start"
	// RestartContainer restarts a container whose dependency was recreated (depends_on
	// restart: true).
	RestartContainer Action = "Restart"
	// KeepContainer is a no-op for a running, up-to-date container ("Running").
	KeepContainer   Action = "Keep"
	StopContainer   Action = "Stop"
	RemoveContainer Action = "Remove"
	RemoveNetwork   Action = "RemoveNetwork"
	RemoveVolume    Action = "RemoveVolume"
	RemoveImage     Action = "RemoveImage"
)

// Object kinds, as progress names them.
const (
	KindImage     = "Image"
	KindNetwork   = "Network"
	KindVolume    = "Volume"
	KindContainer = "Container"
)

// Step is one action on one object.
type Step struct {
	// ID is unique within a plan: "<kind>:<name>".
	ID     string
	Action Action
	Kind   string
	// Name is the object's engine name (image reference for images).
	Name string
	// Reason says why the step exists ("config changed: ports", "not found", "orphan").
	Reason string
	// After lists the IDs of the steps that must finish first.
	After []string

	// Service and Number identify a container's service and replica.
	Service string
	Number  int
	// Container is the observed container a step acts on (recreate, start, stop, remove).
	Container *runtime.Container
	// Spec is the container to create (create, recreate).
	Spec *runtime.ContainerSpec
	// Start says whether a created or recreated container is started.
	Start bool
	// Waits are the dependency conditions to meet before starting the container.
	Waits []Wait

	// Build is the image to build (BuildImage).
	Build *runtime.BuildSpec

	NetworkSpec *runtime.NetworkSpec
	VolumeSpec  *runtime.VolumeSpec
	// Timeout is the stop timeout (nil: the container's own).
	Timeout *time.Duration
}

// Wait is a depends_on condition to meet before a container starts.
type Wait struct {
	Service   string
	Condition string // service_started, service_healthy, service_completed_successfully
	Required  bool
}

// Plan is an ordered set of steps (a DAG through Step.After) and warnings for the user.
type Plan struct {
	Steps    []*Step
	Warnings []string
}

// Step returns the step with the given ID, or nil.
func (p *Plan) Step(id string) *Step {
	for _, s := range p.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// String renders the plan one step per line, as --dry-run prints it.
func (p *Plan) String() string {
	var b strings.Builder
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "WARN %s\n", w)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "%s %s  %s", s.Kind, s.Name, s.Action)
		if s.Reason != "" {
			fmt.Fprintf(&b, " (%s)", s.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (p *Plan) add(s *Step) *Step {
	s.ID = s.Kind + ":" + s.Name
	p.Steps = append(p.Steps, s)
	return s
}
