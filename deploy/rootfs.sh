#!/bin/sh
# rootfs.sh OUT: lays out the root file system of the tousu image in OUT:
# the static binary (the time zones built in with -tags timetzdata: the
# policy packs' calendars load Asia/Shanghai), the CA certificates of the
# system it runs on, /etc/passwd and /etc/group with the non-root user
# 65532, and an empty /tmp and /var/lib/tousu. deploy/Dockerfile runs it
# in its build stage; deploy/image.sh runs it on the host, to build the
# same image without pulling a base. Run it from the repository's top;
# TOUSU_VERSION names the version (tousu version prints it).
set -eu
out=$1
version=${TOUSU_VERSION:-dev}
rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/var/lib/tousu" "$out/tmp"
CGO_ENABLED=0 go build -trimpath -tags timetzdata \
	-ldflags "-s -w -X main.version=$version -X main.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	-o "$out/usr/local/bin/tousu" ./services/tousu
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/tousu:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$out/etc/group"
chmod 1777 "$out/tmp"
