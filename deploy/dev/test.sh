#!/usr/bin/env bash
# The whole test suite: vet, every test with the race detector, then every
# fuzz target for a few seconds (deploy/dev/fuzz.sh), with
# the real servers the integration tests need started here first and
# stopped at the end:
#   Chromium (browser test)        TOUSU_TEST_BROWSER
#   Prometheus and promtool        TOUSU_TEST_PROMETHEUS (Debian's prometheus)
#   small tmpfs file systems       TOUSU_TEST_SMALL_FS (disk-full tests; root)
#   Dovecot  (IMAP)                TOUSU_TEST_IMAP     deploy/dev/dovecot.sh
#   Postfix  (SMTP into Dovecot)   TOUSU_TEST_SMTP     deploy/dev/postfix.sh
#   Apache Kafka and Elasticsearch TOUSU_TEST_KAFKA, TOUSU_TEST_ES
#     (Kafka's SASL_SSL listener)  TOUSU_TEST_KAFKA_SASL (+ _USER, _PASSWORD_FILE,
#                                  _CA_FILE, _CERT_FILE, _KEY_FILE)
#                                                      deploy/dev/services.sh
#   Elasticsearch with x-pack      TOUSU_TEST_ES_SECURE (+ _CA_FILE, _API_KEY_FILE,
#     security (HTTPS, API key)    _PASSWORD_FILE, _RUN, _TRANSPORT_PORT)
#                                                      deploy/dev/services.sh
#   buildah (the container image)  deploy/image.sh, run last (root)
#   a three-node Kafka cluster     TOUSU_TEST_KAFKA_CLUSTER (+ _RUN)
#     (the broker fault tests)                         deploy/dev/services.sh
#   a Kafka node for the soak      TOUSU_TEST_SOAK_KAFKA deploy/dev/services.sh
#     alone (deploy/soak), in the run directory TOUSU_DEV_RUN-soak, on the
#     ports of the single node + 10
#   a Kafka node for services/app  TOUSU_TEST_APP_KAFKA (the poison test), in
#     TOUSU_DEV_RUN-app, on the ports of the single node + 20
# The soak runs TOUSU_SOAK_DURATION (10m here) beside the other packages.
# A variable already set means "use this server" and nothing is started for
# it. Without root (to install packages) a missing server's tests skip with
# a message; with TOUSU_REQUIRE_SERVERS=1 (as .ci/run sets) that is an error.
set -euo pipefail
cd "$(dirname "$0")/../.."

require="${TOUSU_REQUIRE_SERVERS:-0}"
missing() {
  if [ "$require" = 1 ]; then
    echo "test.sh: $1" >&2
    exit 1
  fi
  echo "test.sh: $1: those tests will be skipped" >&2
}

started=()
servers=() # what deploy/dev/services.sh started: stopped alone at the end
own_nodes=() # the Kafka nodes of one package started here (own_kafka)
# own_kafka NAME OFFSET ARGS runs deploy/dev/services.sh for the Kafka node
# of one package's tests: run directory TOUSU_DEV_RUN-NAME, the single
# node's ports + OFFSET, heap 512 MiB. tousu's topics and consumer groups
# have fixed names, so a tousu of another package's test on a shared node
# would take a share of the partitions of a test that runs every target.
own_kafka() {
  local name=$1 offset=$2
  shift 2
  TOUSU_DEV_RUN="${TOUSU_DEV_RUN:-/tmp/tousu-dev}-$name" \
    TOUSU_DEV_KAFKA_PORT=$((${TOUSU_DEV_KAFKA_PORT:-19092} + offset)) \
    TOUSU_DEV_KAFKA_CONTROLLER_PORT=$((${TOUSU_DEV_KAFKA_CONTROLLER_PORT:-19093} + offset)) \
    TOUSU_DEV_KAFKA_SASL_PORT=$((${TOUSU_DEV_KAFKA_SASL_PORT:-19091} + offset)) \
    TOUSU_DEV_KAFKA_HEAP=512m deploy/dev/services.sh "$@"
}
# fresh CMD... removes the data an earlier run left on the servers CMD
# manages (topics, consumer groups and their offsets, indices) when none of
# them runs, so that every run starts from empty servers as on a fresh
# machine: tousu's topics and groups have fixed names, and a node that
# kept every earlier run's cases makes each new process catch up on them.
fresh() {
  if ! "$@" status >/dev/null 2>&1; then "$@" reset >/dev/null 2>&1 || true; fi
}
cleanup() {
  for s in "${started[@]}"; do "deploy/dev/$s" stop >/dev/null 2>&1 || true; done
  if [ "${#servers[@]}" -gt 0 ]; then deploy/dev/services.sh stop "${servers[@]}" >/dev/null 2>&1 || true; fi
  for n in "${own_nodes[@]}"; do own_kafka "${n%:*}" "${n#*:}" stop kafka >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

if [ -z "${TOUSU_TEST_BROWSER:-}" ]; then
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium for the browser test" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if command -v chromium >/dev/null 2>&1; then
    export TOUSU_TEST_BROWSER="$(command -v chromium)"
  else
    missing "no chromium"
  fi
fi

if [ -z "${TOUSU_TEST_PROMETHEUS:-}" ]; then
  if ! { command -v prometheus && command -v promtool; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing prometheus for the monitoring rules and the alert test" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    export TOUSU_TEST_PROMETHEUS="$(command -v prometheus)"
  else
    missing "no prometheus and promtool"
  fi
fi

if [ -z "${TOUSU_TEST_SMALL_FS:-}" ]; then
  # The disk-full tests mount tmpfs file systems of a few hundred KiB.
  probe="$(mktemp -d)"
  if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then
    umount "$probe"
    export TOUSU_TEST_SMALL_FS=1
  else
    missing "cannot mount a tmpfs (needs root)"
  fi
  rmdir "$probe"
fi

if [ -z "${TOUSU_TEST_IMAP:-}" ]; then
  if deploy/dev/dovecot.sh start; then
    started+=(dovecot.sh)
    eval "$(deploy/dev/dovecot.sh env)"
  else
    missing "Dovecot did not start"
  fi
fi

if [ -z "${TOUSU_TEST_SMTP:-}" ]; then
  # Postfix delivers into the Dovecot mailboxes (and starts Dovecot if it
  # is not running yet); the customer's mailbox is Dovecot's.
  if deploy/dev/postfix.sh start; then
    started=(postfix.sh "${started[@]}")
    eval "$(deploy/dev/postfix.sh env)"
    [ -n "${TOUSU_TEST_IMAP_CUSTOMER:-}" ] || eval "$(deploy/dev/dovecot.sh env | grep TOUSU_TEST_IMAP_CUSTOMER)"
  else
    missing "Postfix did not start"
  fi
fi

# The single node with Elasticsearch, and the three-node cluster, start
# together, each only when its variables are not set; only their own
# variables are taken from services.sh env.
wanted=() vars=()
if [ -z "${TOUSU_TEST_KAFKA:-}" ] || [ -z "${TOUSU_TEST_KAFKA_SASL:-}" ] || [ -z "${TOUSU_TEST_ES:-}" ]; then
  wanted+=(kafka es)
  vars+=(TOUSU_TEST_KAFKA TOUSU_TEST_KAFKA_SASL TOUSU_TEST_KAFKA_SASL_USER TOUSU_TEST_KAFKA_SASL_PASSWORD_FILE TOUSU_TEST_KAFKA_SASL_CA_FILE TOUSU_TEST_KAFKA_SASL_CERT_FILE TOUSU_TEST_KAFKA_SASL_KEY_FILE TOUSU_TEST_ES)
fi
if [ -z "${TOUSU_TEST_ES_SECURE:-}" ]; then
  wanted+=(es-secure)
  vars+=(TOUSU_TEST_ES_SECURE TOUSU_TEST_ES_SECURE_CA_FILE TOUSU_TEST_ES_SECURE_API_KEY_FILE TOUSU_TEST_ES_SECURE_PASSWORD_FILE TOUSU_TEST_ES_SECURE_RUN TOUSU_TEST_ES_SECURE_TRANSPORT_PORT)
fi
if [ -z "${TOUSU_TEST_KAFKA_CLUSTER:-}" ]; then wanted+=(kafka-cluster); vars+=(TOUSU_TEST_KAFKA_CLUSTER TOUSU_TEST_KAFKA_CLUSTER_RUN); fi
if [ "${#wanted[@]}" -gt 0 ]; then
  t0=$SECONDS
  servers=("${wanted[@]}")
  fresh deploy/dev/services.sh
  if deploy/dev/services.sh start "${wanted[@]}"; then
    eval "$(deploy/dev/services.sh env | grep -E "^export ($(IFS='|'; echo "${vars[*]}"))=")"
    echo "test.sh: ${wanted[*]} ready after $((SECONDS - t0))s" >&2
  else
    missing "${wanted[*]} did not start (deploy/dev/services.sh)"
  fi
fi

# The Kafka nodes of the packages whose tests run every target on Kafka
# beside other packages: the soak (deploy/soak) and services/app's poison
# test.
for node in soak:10:TOUSU_TEST_SOAK_KAFKA app:20:TOUSU_TEST_APP_KAFKA; do
  IFS=: read -r name offset var <<<"$node"
  [ -z "${!var:-}" ] || continue
  fresh own_kafka "$name" "$offset"
  if own_kafka "$name" "$offset" start kafka; then
    own_nodes+=("$name:$offset")
    export "$var=$(own_kafka "$name" "$offset" env 2>/dev/null | sed -n "s/^export TOUSU_TEST_KAFKA=//p" | tr -d "'\"")"
  else
    missing "the Kafka node of $name did not start (deploy/dev/services.sh)"
  fi
done
export TOUSU_SOAK_DURATION="${TOUSU_SOAK_DURATION:-10m}"

echo "test.sh: browser=${TOUSU_TEST_BROWSER:-none} prometheus=${TOUSU_TEST_PROMETHEUS:-none} small-fs=${TOUSU_TEST_SMALL_FS:-none} imap=${TOUSU_TEST_IMAP:+dovecot} smtp=${TOUSU_TEST_SMTP:-none} kafka=${TOUSU_TEST_KAFKA:-none} kafka-cluster=${TOUSU_TEST_KAFKA_CLUSTER:-none} es=${TOUSU_TEST_ES:-none} es-secure=${TOUSU_TEST_ES_SECURE:-none} soak-kafka=${TOUSU_TEST_SOAK_KAFKA:-none} app-kafka=${TOUSU_TEST_APP_KAFKA:-none} soak=${TOUSU_SOAK_DURATION}" >&2
go vet ./...
go test -race -count=1 -timeout 30m ./...
# Every fuzz target a few seconds (TOUSU_FUZZ_SECONDS, default 5).
deploy/dev/fuzz.sh "${TOUSU_FUZZ_SECONDS:-5}"
# The container image of deploy/Dockerfile, built with buildah (from
# Debian's packages) and run from its root file system as uid 65532
# (deploy/image.sh; needs root, no Docker engine or registry).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if ! command -v buildah >/dev/null 2>&1; then
    echo "test.sh: installing buildah for the image check" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
  fi
  t0=$SECONDS
  TOUSU_IMAGE_RUN="${TOUSU_DEV_RUN:-/tmp/tousu-dev}-image" deploy/image.sh
  echo "test.sh: the image built and ran in $((SECONDS - t0))s" >&2
else
  missing "cannot build the image (deploy/image.sh needs root and apt-get for buildah)"
fi
