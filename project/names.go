package project

import (
	"fmt"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// Separator joins project, service and number in container names, as Docker Compose v2 does.
const Separator = "-"

// ContainerName is the name of replica n (from 1) of service: its container_name, else
// <project>-<service>-<n>.
func ContainerName(projectName string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return projectName + Separator + s.Name + Separator + strconv.Itoa(n)
}

// OneoffName is the name of a `comp run` container: <project>-<service>-run-<12 hex>.
func OneoffName(projectName, service, suffix string) string {
	return fmt.Sprintf("%s%s%s%srun%s%s", projectName, Separator, service, Separator, Separator, suffix)
}

// NetworkName is the engine name of the compose network key: its name: (set by compose-go
// to <project>_<key> unless given).
func (p *Project) NetworkName(key string) string {
	if n, ok := p.Networks[key]; ok && n.Name != "" {
		return n.Name
	}
	return p.Name + "_" + key
}

// VolumeName is the engine name of the compose volume key, <project>_<key> unless named.
func (p *Project) VolumeName(key string) string {
	if v, ok := p.Volumes[key]; ok && v.Name != "" {
		return v.Name
	}
	return p.Name + "_" + key
}
