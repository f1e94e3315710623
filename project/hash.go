package project

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// ConfigHash is the service's config hash (label com.docker.compose.config-hash): SHA-256 of
// the service as JSON with the fields that do not change a container blanked, exactly as Docker
// Compose computes it, so a container is recreated only when its configuration really changed
// and comp agrees with `docker compose` about which containers are up to date.
func ConfigHash(s types.ServiceConfig) (string, error) {
	b, err := json.Marshal(hashable(s))
	if err != nil {
		return "", fmt.Errorf("hash service %s: %w", s.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// LabelConfigFields holds a short digest of each top-level field of the service's hashed
// config, so that a changed config hash can be explained by field ("config changed: ports").
const LabelConfigFields = "dev.comp.config-fields"

// FieldDigests returns "field=digest8,…" for the fields that make up ConfigHash, sorted.
func FieldDigests(s types.ServiceConfig) (string, error) {
	b, err := json.Marshal(hashable(s))
	if err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return "", err
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		sum := sha256.Sum256(fields[k])
		parts = append(parts, k+"="+hex.EncodeToString(sum[:4]))
	}
	return strings.Join(parts, ","), nil
}

// ChangedFields compares two FieldDigests values and names the fields that differ, sorted.
func ChangedFields(old, new string) []string {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(s, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	a, b := parse(old), parse(new)
	var changed []string
	for k, v := range b {
		if a[k] != v {
			changed = append(changed, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return changed
}

// hashable blanks the fields that do not change a container, as Docker Compose does.
func hashable(s types.ServiceConfig) types.ServiceConfig {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	return s
}
