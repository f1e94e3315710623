#!/bin/sh
# Builds the image examples/hello runs, comp-example/busybox:latest, from the host's
# /bin/busybox (Debian: apt-get install busybox-static) and loads it into Docker Engine, so the
# example needs no registry. The embedded runtime will load it with `comp image load`.
set -eu
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - comp-example/busybox:latest
