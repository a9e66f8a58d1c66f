#!/bin/sh
# image.sh: builds the tousu image of deploy/Dockerfile without a Docker
# engine or a registry, and runs it.
#
# No registry but the package registries is reachable here, so the
# Dockerfile's build stage (FROM golang) cannot be pulled: deploy/rootfs.sh
# lays out the same files on the host (Debian, the Go of go.mod), and
# buildah builds the Dockerfile's final stage (FROM scratch) from them,
# taken from the Dockerfile itself, into its own storage under the run
# directory. It then mounts the image's root file system and runs the
# binary from it as uid 65532 under chroot (no container runtime: the
# same binary and file layout), with -target all, and checks /healthz,
# /readyz, a complaint submitted through the API (202 and a reference)
# and that the process wrote nothing outside /var/lib/tousu and /tmp
# (what the Kubernetes manifests mount, with a read-only root).
#
# Environment: TOUSU_IMAGE_RUN (run directory, default /tmp/tousu-image),
# TOUSU_IMAGE_PORT (HTTP port, default 28580). Needs root (buildah's
# storage, chroot); installs buildah from Debian's packages when missing.
set -eu
cd "$(dirname "$0")/.."
run=${TOUSU_IMAGE_RUN:-/tmp/tousu-image}
port=${TOUSU_IMAGE_PORT:-28580}
image=localhost/tousu:dev
token=image-check-token-0123456789
if ! command -v buildah >/dev/null; then
	apt-get install -y buildah >/dev/null
fi
bah() { buildah --root "$run/storage" --runroot "$run/runroot" --storage-driver vfs "$@"; }

rm -rf "$run/context" "$run/log"
mkdir -p "$run/context"
TOUSU_VERSION=${TOUSU_VERSION:-image-check} sh deploy/rootfs.sh "$run/context/rootfs"
# The Dockerfile's final stage, its build stage's files from the context.
sed -n '/^FROM scratch/,$p' deploy/Dockerfile | sed -e 's#--from=build ##' -e 's# /rootfs/# rootfs/#' >"$run/context/Containerfile"
bah build --quiet -f "$run/context/Containerfile" -t "$image" "$run/context" >/dev/null
echo "image.sh: built $image: $(bah images --format '{{.Size}}' "$image")"
config=$(bah inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}}' "$image")
echo "image.sh: user, entrypoint, command: $config"
case $config in 65532:65532\ *) ;; *) echo "image.sh: the image does not run as 65532" >&2; exit 1 ;; esac

ctr=$(bah from "$image")
mnt=$(bah mount "$ctr")
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	bah umount "$ctr" >/dev/null 2>&1 || true
	bah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
touch "$run/started"
sleep 1
env -i TOUSU_BOOTSTRAP_TOKEN=$token "$(command -v chroot)" --userspec=65532:65532 "$mnt" \
	/usr/local/bin/tousu serve -target all -http 127.0.0.1:$port -data /var/lib/tousu >"$run/log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
i=0
until curl -sf "$base/readyz" >/dev/null; do
	i=$((i + 1))
	if [ $i -gt 120 ] || ! kill -0 $pid 2>/dev/null; then
		echo "image.sh: the image's tousu did not become ready; its log:" >&2
		tail -20 "$run/log" >&2
		exit 1
	fi
	sleep 1
done
echo "image.sh: /healthz $(curl -sf "$base/healthz"), ready after ${i}s"
answer=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H 'Idempotency-Key: image-check-1' \
	-d '{"name":"王女士","phone":"139 1234 5678","subject":"宽带断网","description":"12月3日起家里宽带每晚8点后断网，报修两次没人上门，要求尽快处理并减免当月费用"}' \
	"$base/api/v1/complaints")
case $answer in *'"reference":"TS'*) echo "image.sh: complaint accepted: $answer" ;; *)
	echo "image.sh: the complaint was not accepted: $answer" >&2
	exit 1
	;;
esac
written=$(cd "$mnt" && find . -newer "$run/started" ! -path ./var/lib/tousu ! -path './var/lib/tousu/*' ! -path ./tmp ! -path './tmp/*' | head -5)
if [ -n "$written" ]; then
	echo "image.sh: the process wrote outside /var/lib/tousu and /tmp: $written" >&2
	exit 1
fi
owner=$(stat -c %u "$mnt/var/lib/tousu")
echo "image.sh: ok: $(chroot --userspec=65532:65532 "$mnt" /usr/local/bin/tousu version | head -1) ran as uid 65532 from the image (data owned by $owner), wrote only /var/lib/tousu and /tmp"
