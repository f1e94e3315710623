package runtime

import "testing"

func TestDisplayName(t *testing.T) {
	labels := func(service, number string) map[string]string {
		return map[string]string{LabelProject: "p", LabelService: service, LabelContainerNumber: number}
	}
	tests := []struct {
		what   string
		name   string
		labels map[string]string
		want   string
	}{
		{"a replica is service-n", "p-web-2", labels("web", "2"), "web-2"},
		{"a container_name shows whole", "my-db", labels("db", "1"), "my-db"},
		{"a one-off shows whole", "p-web-run-0123456789ab", labels("web", "1"), "p-web-run-0123456789ab"},
		{"a container without labels shows its name", "x", nil, "x"},
	}
	for _, tt := range tests {
		if got := DisplayName(tt.name, tt.labels); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.what, got, tt.want)
		}
	}
}

func TestListOptionsMatch(t *testing.T) {
	labels := map[string]string{LabelProject: "p", LabelService: "web", "x": "1"}
	tests := []struct {
		what string
		opts ListOptions
		want bool
	}{
		{"any project", ListOptions{}, true},
		{"its project", ListOptions{Project: "p"}, true},
		{"another project", ListOptions{Project: "q"}, false},
		{"a label with its value", ListOptions{Labels: map[string]string{LabelService: "web"}}, true},
		{"a label with another value", ListOptions{Labels: map[string]string{LabelService: "db"}}, false},
		{"a label with any value", ListOptions{Labels: map[string]string{"x": ""}}, true},
		{"a label it lacks", ListOptions{Labels: map[string]string{"y": ""}}, false},
	}
	for _, tt := range tests {
		if got := tt.opts.Match(labels); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.what, got, tt.want)
		}
	}
	if (ListOptions{}).Match(map[string]string{"x": "1"}) {
		t.Error("an object without the project label matches")
	}
}
