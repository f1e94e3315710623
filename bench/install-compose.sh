#!/bin/sh
# Builds Docker Compose v5 (the Go rewrite that `docker compose` is today) from the Go module
# proxy and installs it as the Docker CLI plugin, so that `go run ./bench` measures comp against
# the Compose users run rather than Debian's docker-compose 1.29 (Python). No registry and no
# download site are needed: only the Go module proxy. About a minute on 2 cores.
#
#   sh bench/install-compose.sh            # v5.6.0, into /usr/local/lib/docker/cli-plugins
#   COMPOSE_VERSION=v5.5.0 sh bench/install-compose.sh
#
# v5.6.0 is the newest that builds here: v5.7 needs github.com/docker/secrets-engine, which the
# proxy does not serve. The module is built as the main module, from a copy of its source,
# because its go.mod has exclude directives that `go install pkg@version` refuses.
set -eu
version=${COMPOSE_VERSION:-v5.6.0}
plugins=${DOCKER_CLI_PLUGINS:-/usr/local/lib/docker/cli-plugins}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

src=$(cd "$work" && go mod download -json "github.com/docker/compose/v5@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] || { echo "install-compose: go mod download github.com/docker/compose/v5@$version failed" >&2; exit 1; }
cp -r "$src" "$work/compose"
chmod -R u+w "$work/compose"
(cd "$work/compose" && CGO_ENABLED=0 go build -trimpath \
	-ldflags "-w -X github.com/docker/compose/v5/internal.Version=$version" \
	-o "$work/docker-compose" ./cmd)
mkdir -p "$plugins"
install -m 0755 "$work/docker-compose" "$plugins/docker-compose"
docker compose version
