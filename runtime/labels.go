package runtime

// The Docker Compose labels. comp writes them on every object it creates and finds its own
// objects by them, on every backend; on Docker this makes comp's containers visible to
// `docker compose`.
const (
	LabelPrefix          = "com.docker.compose."
	LabelProject         = "com.docker.compose.project"
	LabelService         = "com.docker.compose.service"
	LabelContainerNumber = "com.docker.compose.container-number"
	LabelOneoff          = "com.docker.compose.oneoff"
	LabelConfigHash      = "com.docker.compose.config-hash"
	LabelWorkingDir      = "com.docker.compose.project.working_dir"
	LabelConfigFiles     = "com.docker.compose.project.config_files"
	LabelEnvironmentFile = "com.docker.compose.project.environment_file"
	LabelDependsOn       = "com.docker.compose.depends_on"
	LabelImage           = "com.docker.compose.image"
	LabelVersion         = "com.docker.compose.version"
	LabelNetwork         = "com.docker.compose.network"
	LabelVolume          = "com.docker.compose.volume"
	LabelReplace         = "com.docker.compose.replace"
)

// DisplayName is how output (log prefixes, attached `up`) names a container from its name
// and labels: `<service>-<n>` for a container named `<project>-<service>-<n>`, else its name
// (a container_name, a one-off's name). It reads a spec (Name, Labels) as well as an
// observed container.
func DisplayName(name string, labels map[string]string) string {
	project, service, number := labels[LabelProject], labels[LabelService], labels[LabelContainerNumber]
	if service != "" && number != "" && name == project+"-"+service+"-"+number {
		return service + "-" + number
	}
	return name
}
