package dns

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestUpstreamsReadsTheHostsNameservers(t *testing.T) {
	got := Upstreams(filepath.Join("testdata", "resolv.conf"))
	want := []string{"127.0.0.53:53", "192.0.2.10:53", "[fe80::1%eth0]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("Upstreams = %q, want %q (host names skipped, comments ignored)", got, want)
	}
	if got := Upstreams(filepath.Join("testdata", "missing")); len(got) != 0 {
		t.Errorf("Upstreams of a missing file = %q, want none", got)
	}
}

func TestSearchOptionsReadsTheHostsSearchAndOptions(t *testing.T) {
	search, options := SearchOptions(filepath.Join("testdata", "resolv.conf"))
	if want := []string{"corp.example", "lab.example"}; !slices.Equal(search, want) {
		t.Errorf("search = %q, want %q (the last search or domain line wins)", search, want)
	}
	if want := []string{"edns0", "trust-ad", "ndots:2"}; !slices.Equal(options, want) {
		t.Errorf("options = %q, want %q (options lines add up)", options, want)
	}
}

func TestResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		search  []string
		options []string
		want    string
	}{
		{
			name: "names only the gateway when there is nothing else",
			want: "nameserver 172.18.0.1\n",
		},
		{
			name:    "keeps search domains and options",
			search:  []string{"corp.example", "lab.example"},
			options: []string{"ndots:0", "timeout:2"},
			want:    "nameserver 172.18.0.1\nsearch corp.example lab.example\noptions ndots:0 timeout:2\n",
		},
		{
			name:    "options without search",
			options: []string{"ndots:0"},
			want:    "nameserver 172.18.0.1\noptions ndots:0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolvConf("172.18.0.1", tt.search, tt.options); got != tt.want {
				t.Errorf("ResolvConf =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
