package logs

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/comp-dev/comp/runtime"
)

// wants tells whether labels belong to a container of the project and services followed.
func (f *follower) wants(labels map[string]string) bool {
	if f.opts.Project != "" && labels[runtime.LabelProject] != f.opts.Project {
		return false
	}
	if labels[runtime.LabelOneoff] == "True" {
		return false
	}
	return f.services == nil || f.services[labels[runtime.LabelService]]
}

// list returns the project's wanted containers in a stable order (service, then replica
// number), the order their colors are given in.
func (f *follower) list() ([]runtime.Container, error) {
	all, err := f.src.ListContainers(f.ctx, runtime.ListOptions{Project: f.opts.Project, All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", f.opts.Project, err)
	}
	var cs []runtime.Container
	for _, c := range all {
		if f.wants(c.Labels) {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b runtime.Container) int {
		na, _ := strconv.Atoi(a.Labels[runtime.LabelContainerNumber])
		nb, _ := strconv.Atoi(b.Labels[runtime.LabelContainerNumber])
		return cmp.Or(
			cmp.Compare(a.Labels[runtime.LabelService], b.Labels[runtime.LabelService]),
			cmp.Compare(na, nb),
			cmp.Compare(a.Name, b.Name))
	})
	return cs, nil
}
