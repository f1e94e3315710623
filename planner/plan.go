package planner

import (
	"fmt"
	"strings"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// Action is what a step does.
type Action string

// The actions of a plan. Each is one call to the runtime on one object (KeepContainer and
// AwaitContainer make none: they mark a container the plan relies on).
const (
	PullImage Action = "Pull"
	// SkipImage is a no-op for an image `pull` leaves as it is; its Reason says why.
	SkipImage Action = "Skip"
	// BuildImage builds a service's image from its build: section.
	BuildImage      Action = "Build"
	CreateNetwork   Action = "CreateNetwork"
	CreateVolume    Action = "CreateVolume"
	CreateContainer Action = "Create"
	StartContainer  Action = "Start"
	// RestartContainer restarts a container: `comp restart`, or a container whose dependency
	// was recreated (depends_on restart: true).
	RestartContainer Action = "Restart"
	// KeepContainer is a no-op for a running, up-to-date container ("Running").
	KeepContainer   Action = "Keep"
	StopContainer   Action = "Stop"
	KillContainer   Action = "Kill"
	RenameContainer Action = "Rename"
	RemoveContainer Action = "Remove"
	// AwaitContainer waits for a container's own goal (`up --wait`): running, healthy when it
	// has a healthcheck, exited 0 when a dependent waits for it to complete.
	AwaitContainer Action = "Await"
	RemoveNetwork  Action = "RemoveNetwork"
	RemoveVolume   Action = "RemoveVolume"
	RemoveImage    Action = "RemoveImage"
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
	// ID is unique within a plan: "<kind>:<name>/<action>".
	ID     string
	Action Action
	Kind   string
	// Name is the object's engine name (image reference for images); for a rename, the
	// container's name before it.
	Name string
	// Reason says why the step exists ("config changed: ports", "not found", "orphan").
	Reason string
	// After lists the IDs of the steps that must finish first.
	After []string

	// Service and Number identify a container's service and replica.
	Service string
	Number  int
	// Container is the observed container the step acts on; nil for a container the plan
	// creates, which its Name finds.
	Container *runtime.Container
	// Spec is the container to create (CreateContainer).
	Spec *runtime.ContainerSpec
	// NewName is the name a RenameContainer gives.
	NewName string
	// Waits are the conditions to meet before the step acts: the depends_on conditions of a
	// container before it starts, or a container's own goal (AwaitContainer).
	Waits []Wait
	// Recreating marks the steps that replace a container (stop, rename and remove of the old
	// one, create of the new): progress tells them as one "Recreate" of the container.
	Recreating bool
	// Quiet steps report no progress: the one-off container of `run`, whose output is the
	// command's own.
	Quiet bool
	// Optional steps fail with a warning, and the plan goes on (pull --ignore-pull-failures).
	Optional bool

	// Build is the image to build (BuildImage).
	Build *runtime.BuildSpec

	NetworkSpec *runtime.NetworkSpec
	VolumeSpec  *runtime.VolumeSpec
	// Timeout is the stop timeout (nil: the container's own).
	Timeout *time.Duration
	// Signal is what KillContainer sends.
	Signal string
	// Force and RemoveVolumes are RemoveContainer's options: kill a running container first;
	// remove its anonymous volumes.
	Force, RemoveVolumes bool
}

// Conditions a Wait can name beyond Compose's depends_on conditions (types.ServiceCondition…).
const (
	// ConditionUp is `up --wait`'s goal for a container: running, and healthy when it has a
	// healthcheck.
	ConditionUp = "up"
)

// Wait is a condition that containers must meet before a step acts.
type Wait struct {
	// Service is the service whose containers are waited for.
	Service string
	// Condition is service_started, service_healthy, service_completed_successfully or
	// ConditionUp.
	Condition string
	// Required: a failed condition fails the step; otherwise it is a warning.
	Required bool
	// Containers are the names of the containers that must meet it (those of Service the
	// plan starts or keeps, or that run already).
	Containers []string
	// Goal marks the container's own goal (AwaitContainer), not a dependency's condition:
	// its failure names the container, not "dependency failed to start".
	Goal bool
}

// Plan is an ordered set of steps (a DAG through Step.After) and warnings for the user.
type Plan struct {
	Steps    []*Step
	Warnings []string
	// index finds the steps the planner added by ID, so that planning stays linear in the
	// number of steps.
	index map[string]*Step
}

// StepID is the ID of the step with action on the object of kind named name.
func StepID(kind, name string, action Action) string {
	return kind + ":" + name + "/" + string(action)
}

// Step returns the step with the given ID, or nil.
func (p *Plan) Step(id string) *Step {
	if st, ok := p.index[id]; ok {
		return st
	}
	for _, s := range p.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Find returns the step with action on the object of kind named name, or nil.
func (p *Plan) Find(kind, name string, action Action) *Step {
	return p.Step(StepID(kind, name, action))
}

// String renders the plan one step per line, as --dry-run prints it.
func (p *Plan) String() string {
	var b strings.Builder
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "WARN %s\n", w)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "%s %s  %s", s.Kind, s.Name, s.Action)
		switch {
		case s.Action == RenameContainer:
			fmt.Fprintf(&b, " to %s", s.NewName)
		case s.Action == KillContainer:
			fmt.Fprintf(&b, " (%s)", s.Signal)
		}
		if s.Reason != "" {
			fmt.Fprintf(&b, " (%s)", s.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Empty tells a plan with nothing to do.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

func (p *Plan) add(s *Step) *Step {
	s.ID = StepID(s.Kind, s.Name, s.Action)
	p.Steps = append(p.Steps, s)
	if p.index == nil {
		p.index = map[string]*Step{}
	}
	p.index[s.ID] = s
	return s
}

// containerStep is a step on container c (observed) of its service.
func containerStep(action Action, c runtime.Container, reason string) *Step {
	return &Step{Action: action, Kind: KindContainer, Name: c.Name, Service: c.Labels[runtime.LabelService],
		Number: number(c), Container: &c, Reason: reason}
}

// ImageSteps is the part of p that pulls and builds images.
func (p *Plan) ImageSteps() *Plan {
	out := &Plan{}
	for _, st := range p.Steps {
		if st.Action == PullImage || st.Action == BuildImage {
			out.Steps = append(out.Steps, st)
		}
	}
	return out
}
