#!/usr/bin/env bash
# services.sh starts real Apache Kafka (KRaft combined mode) and Elasticsearch
# on 127.0.0.1 for tousu's integration tests, from jars on Maven Central: no
# Docker, only a JDK (17+), Maven and curl. See "Real Kafka and Elasticsearch" in README.md.
#
#   deploy/dev/services.sh start [kafka|es|es-secure|kafka-cluster ...]
#                                                 fetch (once), start, wait until healthy;
#                                                   no name: kafka and es
#   deploy/dev/services.sh stop  [kafka|es|es-secure|kafka-cluster ...]
#                                                 stop what runs; no name: everything
#   deploy/dev/services.sh status                 say what runs
#   deploy/dev/services.sh env                    print export lines for the running servers:
#                                                   eval "$(deploy/dev/services.sh env)"
#   deploy/dev/services.sh kill-node N            SIGKILL node N (1-3) of the Kafka cluster
#   deploy/dev/services.sh start-node N           start node N again, wait until its broker is up
#   deploy/dev/services.sh kafka-run CLASS ARGS   run a Kafka tool class on the Kafka classpath, e.g.
#                                                   org.apache.kafka.tools.ProducerPerformance --help
#   deploy/dev/services.sh reset                  stop and delete the runtime data (not the jar cache)
#
# Nothing is written inside the repository. Environment (defaults in brackets):
#   TOUSU_DEV_CACHE      jar cache, Maven repository, launcher build [$HOME/.cache/tousu-dev]
#   TOUSU_DEV_RUN        logs, data, pid files [/tmp/tousu-dev]
#   TOUSU_DEV_KAFKA_PORT, TOUSU_DEV_KAFKA_CONTROLLER_PORT [19092, 19093]
#   TOUSU_DEV_KAFKA_SASL_PORT the single node's SASL_SSL listener [19091]: SCRAM-SHA-512,
#                        SCRAM-SHA-256 and PLAIN for the user tousu, a certificate of a CA
#                        made here (RUN/kafka/tls), a client certificate of it required
#   TOUSU_DEV_KAFKA_CLUSTER_PORT first port of the three-node cluster: node N
#                        listens on PORT+2(N-1) (broker) and the next (controller) [19094]
#   TOUSU_DEV_ES_PORT, TOUSU_DEV_ES_TRANSPORT_PORT [19200, 19300]
#   TOUSU_DEV_ES_SECURE_PORT, TOUSU_DEV_ES_SECURE_TRANSPORT_PORT the second node,
#                        es-secure [19210, 19310]: x-pack security from the Central
#                        jars, HTTPS only with a certificate of a CA made here
#                        (RUN/es-secure/tls), the user elastic (password in
#                        RUN/es-secure/password) and an API key made with it
#                        (RUN/es-secure/api-key); the fault tests may stop it
#   TOUSU_DEV_KAFKA_VERSION [4.1.1], TOUSU_DEV_ES_VERSION [8.19.21]
#   TOUSU_DEV_KAFKA_HEAP [1g], TOUSU_DEV_ES_HEAP [512m], TOUSU_DEV_KAFKA_CLUSTER_HEAP [384m] per node
#   TOUSU_DEV_START_TIMEOUT seconds to wait for health [180]
set -euo pipefail

CACHE=${TOUSU_DEV_CACHE:-${HOME:-/root}/.cache/tousu-dev}
RUN=${TOUSU_DEV_RUN:-/tmp/tousu-dev}
KAFKA_VERSION=${TOUSU_DEV_KAFKA_VERSION:-4.1.1}
ES_VERSION=${TOUSU_DEV_ES_VERSION:-8.19.21}
KAFKA_PORT=${TOUSU_DEV_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${TOUSU_DEV_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${TOUSU_DEV_KAFKA_SASL_PORT:-19091}
KAFKA_SASL_USER=tousu
ES_PORT=${TOUSU_DEV_ES_PORT:-19200}
ES_TRANSPORT_PORT=${TOUSU_DEV_ES_TRANSPORT_PORT:-19300}
ES_SECURE_PORT=${TOUSU_DEV_ES_SECURE_PORT:-19210}
ES_SECURE_TRANSPORT_PORT=${TOUSU_DEV_ES_SECURE_TRANSPORT_PORT:-19310}
KAFKA_HEAP=${TOUSU_DEV_KAFKA_HEAP:-1g}
CLUSTER_PORT=${TOUSU_DEV_KAFKA_CLUSTER_PORT:-19094}
CLUSTER_HEAP=${TOUSU_DEV_KAFKA_CLUSTER_HEAP:-384m}
CLUSTER_NODES=3
ES_HEAP=${TOUSU_DEV_ES_HEAP:-512m}
START_TIMEOUT=${TOUSU_DEV_START_TIMEOUT:-180}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAUNCHER_SRC=$(cd "$HERE/../es-launcher" && pwd)

KAFKA_DIR=$CACHE/kafka-$KAFKA_VERSION
ES_DIR=$CACHE/elasticsearch-$ES_VERSION
ES_SECURE_DIR=$CACHE/elasticsearch-secure-$ES_VERSION

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"
}

# mvn_copy_deps POM_DIR resolves the runtime dependencies of the POM in
# POM_DIR into POM_DIR/lib, with a Maven repository inside the cache.
mvn_copy_deps() {
	local dir=$1
	need mvn "Maven, to fetch the server jars from Maven Central"
	rm -rf "${dir:?}/lib"
	if ! mvn -B -q -f "$dir/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib" \
		>"$dir/mvn.log" 2>&1; then
		tail -n 30 "$dir/mvn.log" >&2
		die "mvn could not fetch the dependencies of $dir/pom.xml (log: $dir/mvn.log)"
	fi
}

# fetch_kafka makes sure $KAFKA_DIR/lib holds the broker, the tools and a
# log4j2 binding for slf4j.
fetch_kafka() {
	[[ -f $KAFKA_DIR/.complete ]] && return 0
	say "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_DIR"
	mkdir -p "$KAFKA_DIR"
	cat >"$KAFKA_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tousu-dev</groupId><artifactId>kafka-run</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
	mvn_copy_deps "$KAFKA_DIR"
	ls "$KAFKA_DIR/lib/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || die "no kafka_2.13-$KAFKA_VERSION.jar in $KAFKA_DIR/lib"
	cat >"$KAFKA_DIR/tools-log4j2.properties" <<'EOF'
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
appender.console.type=Console
appender.console.name=STDERR
appender.console.target=SYSTEM_ERR
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=[%d] %p %m (%c)%n
EOF
	touch "$KAFKA_DIR/.complete"
}

# launcher_hash identifies the launcher sources, so that a change rebuilds it.
launcher_hash() {
	(cd "$LAUNCHER_SRC" && find pom.xml src -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -c1-16
}

# build_es DIR DEPENDENCIES SOURCE-DIR... makes sure DIR/lib holds the
# server, the Netty4 transport and the POM <dependency> elements of
# DEPENDENCIES, and DIR/classes the launcher compiled from the Java sources
# in the SOURCE-DIRs.
build_es() {
	local dir=$1 extra=$2 hash
	shift 2
	hash=$(launcher_hash)
	if [[ -f $dir/.complete && $(cat "$dir/.complete") == "$hash" ]]; then
		return 0
	fi
	need javac "a JDK 17 or later"
	mkdir -p "$dir"
	if [[ ! -f $dir/.deps-complete ]]; then
		say "fetching Elasticsearch $ES_VERSION${extra:+ with x-pack security} from Maven Central into $dir"
		# A copy of the launcher's POM with the version pinned, so that
		# Maven writes nothing inside the repository.
		sed -e "s|<elasticsearch.version>[^<]*</elasticsearch.version>|<elasticsearch.version>$ES_VERSION</elasticsearch.version>|" \
			-e "s|</dependencies>|$extra</dependencies>|" "$LAUNCHER_SRC/pom.xml" >"$dir/pom.xml"
		mvn_copy_deps "$dir"
		ls "$dir/lib/elasticsearch-$ES_VERSION.jar" >/dev/null || die "no elasticsearch-$ES_VERSION.jar in $dir/lib"
		touch "$dir/.deps-complete"
	fi
	say "compiling the Elasticsearch launcher (deploy/es-launcher) into $dir"
	rm -rf "$dir/classes"
	mkdir -p "$dir/classes"
	local sources=()
	mapfile -t sources < <(find "$@" -name '*.java')
	javac -nowarn --release 17 -encoding UTF-8 -d "$dir/classes" -cp "$dir/lib/*" "${sources[@]}" ||
		die "the launcher does not compile against the jars of $dir/lib"
	echo "$hash" >"$dir/.complete"
}

# fetch_es makes sure $ES_DIR holds the server, the Netty4 transport and
# the launcher.
fetch_es() {
	build_es "$ES_DIR" "" "$LAUNCHER_SRC/src/main/java"
}

# fetch_es_secure makes sure $ES_SECURE_DIR holds what fetch_es fetches
# plus x-pack core and security, and the launcher with its secure part.
# OpenSAML, which x-pack security depends on, is not on Maven Central
# (Shibboleth publishes it): it is left out, and the launcher's security
# plugin drops the SAML actions that need it.
fetch_es_secure() {
	local xpack
	xpack="<dependency><groupId>org.elasticsearch.plugin</groupId><artifactId>x-pack-core</artifactId><version>$ES_VERSION</version></dependency>"
	xpack+="<dependency><groupId>org.elasticsearch.plugin</groupId><artifactId>x-pack-security</artifactId><version>$ES_VERSION</version>"
	xpack+="<exclusions><exclusion><groupId>org.opensaml</groupId><artifactId>*</artifactId></exclusion>"
	xpack+="<exclusion><groupId>net.shibboleth.utilities</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>"
	build_es "$ES_SECURE_DIR" "$xpack" "$LAUNCHER_SRC/src/main/java" "$LAUNCHER_SRC/src/secure/java"
}

# pid_of NAME prints the pid of the running server NAME (kafka, es, es-secure or
# kafka-cluster-N), or nothing; a stale pid file (dead process, or a reused
# pid that is not ours) is removed.
pid_of() {
	local name=$1 file=$RUN/$1.pid pid marker
	[[ -f $file ]] || return 0
	pid=$(cat "$file")
	case $name in
	kafka) marker=$RUN/kafka/server.properties ;;
	kafka-cluster-*) marker=$RUN/kafka-cluster/node${name#kafka-cluster-}/server.properties ;;
	es) marker=-Epath.home=$RUN/es/home ;;
	es-secure) marker=-Epath.home=$RUN/es-secure/home ;;
	esac
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$marker"; then
		echo "$pid"
	else
		rm -f "$file"
	fi
}

# port_busy PORT reports whether something listens on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_ports_free() {
	local what=$1 p
	shift
	for p in "$@"; do
		if port_busy "$p"; then
			die "port $p on 127.0.0.1 is in use by another process, so $what cannot start; set the TOUSU_DEV_*_PORT variables to free ports"
		fi
	done
}

# write_kafka_config DIR NODE-ID VOTERS PORT CONTROLLER-PORT REPLICATION MIN-ISR
# writes the configuration of one KRaft node in combined mode (broker and
# controller) into DIR: created topics and the internal ones get
# REPLICATION replicas and MIN-ISR in-sync replicas.
write_kafka_config() {
	local dir=$1 id=$2 voters=$3 port=$4 cport=$5 rf=$6 isr=$7
	mkdir -p "$dir/data"
	cat >"$dir/server.properties" <<EOF
# Written by deploy/dev/services.sh: node $id, broker and controller.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
EOF
	cat >"$dir/log4j2.properties" <<'EOF'
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.console.type=Console
appender.console.name=STDOUT
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
logger.request.name=kafka.request.logger
logger.request.level=WARN
EOF
}

# launch_kafka NAME DIR HEAP CLUSTER-ID [FORMAT-ARGS...] formats the
# storage of the node configured in DIR (once, with CLUSTER-ID and
# FORMAT-ARGS) and starts it in the background; its pid goes to
# $RUN/NAME.pid, its log to DIR/kafka.log (the previous run's to
# kafka.log.1).
launch_kafka() {
	local name=$1 dir=$2 heap=$3 id=$4
	shift 4
	local jvm=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$KAFKA_DIR/lib/*")
	if [[ ! -f $dir/data/meta.properties ]]; then
		if ! "${jvm[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" "$@" >"$dir/format.log" 2>&1; then
			cat "$dir/format.log" >&2
			die "formatting the Kafka storage of $dir failed (log: $dir/format.log)"
		fi
	fi
	[[ -f $dir/kafka.log ]] && mv "$dir/kafka.log" "$dir/kafka.log.1"
	setsid "${jvm[@]}" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/kafka.log" 2>&1 9>&- &
	echo $! >"$RUN/$name.pid"
	say "Kafka $name starting (pid $!, log $dir/kafka.log)"
}

# running NAME LABEL says so and succeeds when the server NAME already runs.
running() {
	local pid
	pid=$(pid_of "$1")
	[[ -n $pid ]] || return 1
	say "$2 already runs (pid $pid)"
}

new_cluster_id() {
	head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='
}

# make_tls DIR writes, once, a CA (DIR/ca.pem), the broker's key and
# certificate for 127.0.0.1 and localhost signed by it in one PEM file
# (DIR/broker.pem, Kafka's PEM keystore) and a client key and certificate
# of the same CA (DIR/client.pem, DIR/client-key.pem) for mutual TLS.
make_tls() {
	local dir=$1
	[[ -f $dir/client.pem ]] && return 0
	need openssl "to make the certificates of the SASL_SSL listener"
	mkdir -p "$dir"
	chmod 700 "$dir"
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tousu dev CA" \
			-keyout "$dir/ca-key.pem" -out "$dir/ca.pem" &&
			openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
				-keyout "$dir/broker-key.pem" -out "$dir/broker.csr" &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/broker.ext" &&
			openssl x509 -req -in "$dir/broker.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
				-CAcreateserial -days 3650 -extfile "$dir/broker.ext" -out "$dir/broker-cert.pem" &&
			openssl req -newkey rsa:2048 -nodes -subj "/CN=$KAFKA_SASL_USER" \
				-keyout "$dir/client-key.pem" -out "$dir/client.csr" &&
			printf 'extendedKeyUsage=clientAuth\n' >"$dir/client.ext" &&
			openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
				-CAcreateserial -days 3650 -extfile "$dir/client.ext" -out "$dir/client.pem"
	} >"$dir/openssl.log" 2>&1 || die "openssl could not make the certificates (log: $dir/openssl.log)"
	cat "$dir/broker-key.pem" "$dir/broker-cert.pem" >"$dir/broker.pem"
	rm -f "$dir"/*.csr "$dir"/*.ext
}

# sasl_password prints the password of the SASL user, made once.
sasl_password() {
	local file=$RUN/kafka/sasl/password
	if [[ ! -s $file ]]; then
		mkdir -p "$RUN/kafka/sasl"
		chmod 700 "$RUN/kafka/sasl"
		(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$file")
	fi
	cat "$file"
}

# write_sasl_config DIR PORT adds the SASL_SSL listener on PORT to the
# configuration of the single node in DIR: SCRAM-SHA-512 and SCRAM-SHA-256
# (their users are made when the storage is formatted) and PLAIN for the
# user tousu, TLS with the certificates of make_tls.
write_sasl_config() {
	local dir=$1 port=$2 tls=$RUN/kafka/tls password
	password=$(sasl_password)
	make_tls "$tls"
	sed -i -e "s|^listeners=.*|&,SASL_SSL://127.0.0.1:$port|" \
		-e "s|^advertised.listeners=.*|&,SASL_SSL://127.0.0.1:$port|" \
		-e "s|^listener.security.protocol.map=.*|&,SASL_SSL:SASL_SSL|" "$dir/server.properties"
	cat >>"$dir/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$password";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tls/broker.pem
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location=$tls/ca.pem
listener.name.sasl_ssl.ssl.client.auth=required
EOF
	chmod 600 "$dir/server.properties"
}

# scram_format_args prints, one a line, the StorageTool arguments that
# create the SCRAM credentials of the SASL user.
scram_format_args() {
	local password m
	password=$(sasl_password)
	for m in SCRAM-SHA-512 SCRAM-SHA-256; do
		printf '%s\n' --add-scram "$m=[name=$KAFKA_SASL_USER,password=$password]"
	done
}

# add_scram_users creates the SCRAM credentials on the running single node
# when its storage was formatted before the SASL listener existed, once.
add_scram_users() {
	local marker=$RUN/kafka/sasl/scram-users password m
	[[ -f $marker ]] && return 0
	say "creating the SCRAM user $KAFKA_SASL_USER on storage formatted without it"
	password=$(sasl_password)
	for m in SCRAM-SHA-512 SCRAM-SHA-256; do
		java -Xmx256m -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" -cp "$KAFKA_DIR/lib/*" \
			kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users \
			--entity-name "$KAFKA_SASL_USER" --add-config "$m=[password=$password]" >"$RUN/kafka/scram.log" 2>&1 ||
			die "could not create the SCRAM user (log: $RUN/kafka/scram.log)"
	done
	touch "$marker"
}

start_kafka() {
	local pid
	pid=$(pid_of kafka)
	if [[ -n $pid ]] && ! grep -q "^listeners=.*SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT" "$RUN/kafka/server.properties"; then
		# Started by an earlier services.sh, or with another port.
		say "Kafka (pid $pid) runs without the SASL_SSL listener on $KAFKA_SASL_PORT: restarting it"
		stop_all kafka
	fi
	running kafka Kafka && return 0
	check_ports_free Kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT"
	local dir=$RUN/kafka args=()
	write_kafka_config "$dir" 1 "1@127.0.0.1:$KAFKA_CONTROLLER_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" 1 1
	write_sasl_config "$dir" "$KAFKA_SASL_PORT"
	if [[ ! -f $dir/data/meta.properties ]]; then
		mapfile -t args < <(scram_format_args)
		touch "$RUN/kafka/sasl/scram-users"
	fi
	launch_kafka kafka "$dir" "$KAFKA_HEAP" "$(new_cluster_id)" "${args[@]}"
}

# node_port N and node_controller_port N are the ports of cluster node N.
node_port() { echo $((CLUSTER_PORT + 2 * ($1 - 1))); }
node_controller_port() { echo $((CLUSTER_PORT + 2 * ($1 - 1) + 1)); }

# cluster_nodes prints 1 2 3.
cluster_nodes() { seq 1 "$CLUSTER_NODES"; }

# cluster_bootstrap prints the brokers of the cluster, comma-separated.
cluster_bootstrap() {
	local n out=()
	for n in $(cluster_nodes); do out+=("127.0.0.1:$(node_port "$n")"); done
	(IFS=,; echo "${out[*]}")
}

# start_cluster_node N starts node N of the three-node cluster: broker and
# controller, a voter of the quorum of three; replication 3, min ISR 2.
start_cluster_node() {
	local n=$1 name=kafka-cluster-$1
	[[ $n =~ ^[1-9]$ ]] && ((n <= CLUSTER_NODES)) || die "no node $n in the Kafka cluster (1 to $CLUSTER_NODES)"
	running "$name" "Kafka cluster node $n" && return 0
	check_ports_free "Kafka cluster node $n" "$(node_port "$n")" "$(node_controller_port "$n")"
	local base=$RUN/kafka-cluster voters=() m
	mkdir -p "$base"
	[[ -f $base/cluster.id ]] || new_cluster_id >"$base/cluster.id"
	for m in $(cluster_nodes); do voters+=("$m@127.0.0.1:$(node_controller_port "$m")"); done
	write_kafka_config "$base/node$n" "$n" "$(IFS=,; echo "${voters[*]}")" "$(node_port "$n")" "$(node_controller_port "$n")" 3 2
	launch_kafka "$name" "$base/node$n" "$CLUSTER_HEAP" "$(cat "$base/cluster.id")"
}

start_cluster() {
	local n
	for n in $(cluster_nodes); do start_cluster_node "$n"; done
}

start_es() {
	running es Elasticsearch && return 0
	check_ports_free Elasticsearch "$ES_PORT" "$ES_TRANSPORT_PORT"
	local dir=$RUN/es
	mkdir -p "$dir/home" "$dir/data" "$dir/logs" "$dir/tmp"
	setsid java -Xms"$ES_HEAP" -Xmx"$ES_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
		-Djava.io.tmpdir="$dir/tmp" -Dfile.encoding=UTF-8 -Dlog4j2.disable.jmx=true \
		-cp "$ES_DIR/classes:$ES_DIR/lib/*" org.elasticsearch.node.TousuNodeLauncher \
		-Epath.home="$dir/home" -Epath.data="$dir/data" -Epath.logs="$dir/logs" \
		-Ecluster.name=tousu-dev -Enode.name=tousu-dev \
		-Ediscovery.type=single-node -Enetwork.host=127.0.0.1 \
		-Ehttp.port="$ES_PORT" -Etransport.port="$ES_TRANSPORT_PORT" \
		-Ecluster.routing.allocation.disk.threshold_enabled=false \
		-Eaction.destructive_requires_name=false -Elogger.level=INFO \
		</dev/null >"$dir/es.log" 2>&1 9>&- &
	echo $! >"$RUN/es.pid"
	say "Elasticsearch starting (pid $!, log $dir/es.log)"
}

# start_es_secure starts the second node: x-pack security with a basic
# licence it generates itself, HTTPS only, the password of the user elastic
# from RUN/es-secure/password (bootstrap.password, made once).
start_es_secure() {
	running es-secure "Elasticsearch es-secure" && return 0
	check_ports_free "Elasticsearch es-secure" "$ES_SECURE_PORT" "$ES_SECURE_TRANSPORT_PORT"
	local dir=$RUN/es-secure
	mkdir -p "$dir/home" "$dir/data" "$dir/logs" "$dir/tmp"
	# The same kind of CA and certificate as Kafka's listener; the node
	# presents the broker's certificate (127.0.0.1, localhost).
	make_tls "$dir/tls"
	[[ -s $dir/password ]] || (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$dir/password")
	[[ -f $dir/es.log ]] && mv "$dir/es.log" "$dir/es.log.1"
	setsid java -Xms"$ES_HEAP" -Xmx"$ES_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
		-Djava.io.tmpdir="$dir/tmp" -Dfile.encoding=UTF-8 -Dlog4j2.disable.jmx=true \
		-Dtousu.es.plugins=org.elasticsearch.xpack.core.XPackPlugin,org.elasticsearch.xpack.security.TousuSecurityPlugin,org.elasticsearch.xpack.security.TousuAnalysisPlugin \
		-Dtousu.es.bootstrap_password_file="$dir/password" \
		-cp "$ES_SECURE_DIR/classes:$ES_SECURE_DIR/lib/*" org.elasticsearch.node.TousuNodeLauncher \
		-Epath.home="$dir/home" -Epath.data="$dir/data" -Epath.logs="$dir/logs" \
		-Ecluster.name=tousu-dev-secure -Enode.name=tousu-dev-secure \
		-Ediscovery.type=single-node -Enetwork.host=127.0.0.1 \
		-Ehttp.port="$ES_SECURE_PORT" -Etransport.port="$ES_SECURE_TRANSPORT_PORT" \
		-Ecluster.routing.allocation.disk.threshold_enabled=false \
		-Eaction.destructive_requires_name=false -Elogger.level=INFO \
		-Expack.license.self_generated.type=basic -Expack.security.enabled=true \
		-Expack.security.http.ssl.enabled=true -Expack.security.http.ssl.key="$dir/tls/broker-key.pem" \
		-Expack.security.http.ssl.certificate="$dir/tls/broker-cert.pem" \
		-Expack.security.http.ssl.certificate_authorities="$dir/tls/ca.pem" \
		-Expack.security.transport.ssl.enabled=false \
		</dev/null >"$dir/es.log" 2>&1 9>&- &
	echo $! >"$RUN/es-secure.pid"
	say "Elasticsearch es-secure starting (pid $!, log $dir/es.log)"
}

# es_secure_curl ARGS runs curl against the es-secure node as the user
# elastic, trusting its CA; the password goes through a file, not argv.
es_secure_curl() {
	local dir=$RUN/es-secure
	curl -fsS --max-time 10 --cacert "$dir/tls/ca.pem" -K <(printf 'user = "elastic:%s"\n' "$(cat "$dir/password")") "$@"
}

# wait_es_secure waits until the secure node is at least yellow, then
# makes sure RUN/es-secure/api-key holds an API key it accepts (made once
# with the user elastic; the node keeps it in its data).
wait_es_secure() {
	local dir=$RUN/es-secure deadline=$((SECONDS + START_TIMEOUT)) url=https://127.0.0.1:$ES_SECURE_PORT
	until es_secure_curl "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; do
		if [[ -z $(pid_of es-secure) ]]; then
			tail -n 40 "$dir/es.log" >&2
			die "Elasticsearch es-secure exited during start (log: $dir/es.log)"
		fi
		((SECONDS < deadline)) || die "Elasticsearch es-secure did not start within ${START_TIMEOUT}s (log: $dir/es.log)"
		sleep 0.5
	done
	if [[ ! -s $dir/api-key ]] || ! curl -fsS --max-time 10 --cacert "$dir/tls/ca.pem" \
		-K <(printf 'header = "Authorization: ApiKey %s"\n' "$(cat "$dir/api-key")") "$url/_security/_authenticate" >/dev/null 2>&1; then
		local out key
		# The first key creates the index .security, which takes a while.
		until out=$(es_secure_curl --max-time 60 -X POST -H 'Content-Type: application/json' "$url/_security/api_key" \
			-d '{"name":"tousu-dev","metadata":{"made_by":"deploy/dev/services.sh"}}' 2>&1); do
			((SECONDS < deadline)) || die "es-secure did not make an API key: $out (log: $dir/es.log)"
			sleep 1
		done
		key=$(printf '%s' "$out" | grep -o '"encoded":"[^"]*"' | cut -d'"' -f4)
		[[ -n $key ]] || die "es-secure answered no API key"
		(umask 077 && printf '%s\n' "$key" >"$dir/api-key")
	fi
	echo "Elasticsearch $ES_VERSION with x-pack security (HTTPS, user elastic, an API key) ready on $url"
}

# wait_kafka_node NAME DIR PORT waits until the node's broker logged that it
# started (a KRaft broker does so once the quorum has registered and
# unfenced it) and accepts connections; it prints the version.
wait_kafka_node() {
	local name=$1 log=$2/kafka.log port=$3 deadline=$((SECONDS + START_TIMEOUT))
	until grep -q 'Kafka Server started' "$log" 2>/dev/null && port_busy "$port"; do
		if [[ -z $(pid_of "$name") ]]; then
			tail -n 40 "$log" >&2
			die "Kafka $name exited during start (log: $log)"
		fi
		((SECONDS < deadline)) || die "Kafka $name did not start within ${START_TIMEOUT}s (log: $log)"
		sleep 0.5
	done
	local version
	version=$(grep -o 'Kafka version: [^ ]*' "$log" | head -n 1 | cut -d' ' -f3)
	echo "${version:-$KAFKA_VERSION}"
}

wait_kafka() {
	local version
	version=$(wait_kafka_node kafka "$RUN/kafka" "$KAFKA_PORT")
	add_scram_users
	echo "Apache Kafka $version (KRaft, broker+controller) ready on 127.0.0.1:$KAFKA_PORT, SASL_SSL on 127.0.0.1:$KAFKA_SASL_PORT"
}

# wait_cluster waits until every node of the cluster is up: each broker is
# registered with the quorum of three and unfenced.
wait_cluster() {
	local n version
	for n in $(cluster_nodes); do
		version=$(wait_kafka_node "kafka-cluster-$n" "$RUN/kafka-cluster/node$n" "$(node_port "$n")")
	done
	echo "Apache Kafka $version cluster (3 KRaft nodes, each broker+controller; replication 3, min ISR 2) ready on $(cluster_bootstrap)"
}

es_get() {
	curl -fsS --max-time 10 "http://127.0.0.1:$ES_PORT$1"
}

es_version() {
	es_get '/_nodes/_local?filter_path=nodes.*.version' 2>/dev/null | grep -o '"version":"[^"]*"' | head -n 1 | cut -d'"' -f4
}

# wait_es waits until the cluster is at least yellow and prints the
# version of the node.
wait_es() {
	local log=$RUN/es/es.log deadline=$((SECONDS + START_TIMEOUT))
	until es_get '/_cluster/health?wait_for_status=yellow&timeout=1s' >/dev/null 2>&1; do
		if [[ -z $(pid_of es) ]]; then
			tail -n 40 "$log" >&2
			die "Elasticsearch exited during start (log: $log)"
		fi
		((SECONDS < deadline)) || die "Elasticsearch did not start within ${START_TIMEOUT}s (log: $log)"
		sleep 0.5
	done
	echo "Elasticsearch $(es_version) (Maven Central jars: server + transport-netty4, single node) ready on http://127.0.0.1:$ES_PORT"
}

# stop_all NAME... sends SIGTERM to every named server at once (the nodes
# of a cluster shut down together, none waiting for a quorum that is going
# away), waits up to 60s for each and kills what is left.
stop_all() {
	local name pid pids=() names=()
	for name in "$@"; do
		pid=$(pid_of "$name")
		if [[ -z $pid ]]; then
			say "$name is not running"
			continue
		fi
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
		names+=("$name")
	done
	local deadline=$((SECONDS + 60)) i
	for i in "${!pids[@]}"; do
		while kill -0 "${pids[$i]}" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				say "${names[$i]} (pid ${pids[$i]}) did not stop within 60s; killing it"
				kill -KILL "${pids[$i]}" 2>/dev/null || true
				break
			fi
			sleep 0.3
		done
		rm -f "$RUN/${names[$i]}.pid"
		say "${names[$i]} stopped"
	done
}

# cluster_names prints kafka-cluster-1 kafka-cluster-2 kafka-cluster-3.
cluster_names() {
	local n
	for n in $(cluster_nodes); do echo "kafka-cluster-$n"; done
}

# components DEFAULT ARGS prints the components named in ARGS, or DEFAULT.
components() {
	local default=$1
	shift
	if (($# == 0)); then
		echo "$default"
		return
	fi
	local c
	for c in "$@"; do
		case $c in
		kafka | es | es-secure | kafka-cluster) echo "$c" ;;
		elasticsearch) echo es ;;
		cluster) echo kafka-cluster ;;
		*) die "unknown component $c (kafka, es, es-secure or kafka-cluster)" ;;
		esac
	done
}

# has WORD LIST reports whether WORD is one of the words of LIST.
has() {
	[[ " $(echo $2) " == *" $1 "* ]]
}

lock_run() {
	mkdir -p "$RUN"
	exec 9>"$RUN/.lock"
	flock -w 600 9 || die "another services.sh has held $RUN/.lock for 10 minutes"
}

cmd_start() {
	local comps
	comps=$(components "kafka es" "$@")
	need java "a JDK 17 or later"
	need curl "to check Elasticsearch's health"
	mkdir -p "$CACHE"
	lock_run
	local t0=$SECONDS
	if has kafka "$comps" || has kafka-cluster "$comps"; then fetch_kafka; fi
	if has es "$comps"; then fetch_es; fi
	if has es-secure "$comps"; then fetch_es_secure; fi
	if has kafka "$comps"; then start_kafka; fi
	if has kafka-cluster "$comps"; then start_cluster; fi
	if has es "$comps"; then start_es; fi
	if has es-secure "$comps"; then start_es_secure; fi
	if has kafka "$comps"; then wait_kafka; fi
	if has kafka-cluster "$comps"; then wait_cluster; fi
	if has es "$comps"; then wait_es; fi
	if has es-secure "$comps"; then wait_es_secure; fi
	say "ready after $((SECONDS - t0))s; run: eval \"\$($0 env)\""
}

cmd_stop() {
	local comps names=()
	comps=$(components "kafka es es-secure kafka-cluster" "$@")
	lock_run
	if has es "$comps"; then names+=(es); fi
	if has es-secure "$comps"; then names+=(es-secure); fi
	if has kafka "$comps"; then names+=(kafka); fi
	if has kafka-cluster "$comps"; then mapfile -t -O "${#names[@]}" names < <(cluster_names); fi
	stop_all "${names[@]}"
}

# cmd_kill_node N kills node N of the cluster with SIGKILL, as a crash
# would, and returns once it is gone.
cmd_kill_node() {
	local n=${1:-} pid
	[[ $n =~ ^[1-9]$ ]] && ((n <= CLUSTER_NODES)) || die "usage: $0 kill-node N (1 to $CLUSTER_NODES)"
	lock_run
	pid=$(pid_of "kafka-cluster-$n")
	[[ -n $pid ]] || die "Kafka cluster node $n is not running"
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	rm -f "$RUN/kafka-cluster-$n.pid"
	say "Kafka cluster node $n (pid $pid) killed"
}

# cmd_start_node N starts node N of the cluster and waits until its broker
# is up again.
cmd_start_node() {
	local n=${1:-}
	[[ $n =~ ^[1-9]$ ]] && ((n <= CLUSTER_NODES)) || die "usage: $0 start-node N (1 to $CLUSTER_NODES)"
	need java "a JDK 17 or later"
	mkdir -p "$CACHE"
	lock_run
	local t0=$SECONDS
	fetch_kafka
	start_cluster_node "$n"
	wait_kafka_node "kafka-cluster-$n" "$RUN/kafka-cluster/node$n" "$(node_port "$n")" >/dev/null
	say "Kafka cluster node $n up after $((SECONDS - t0))s on 127.0.0.1:$(node_port "$n")"
}

cmd_status() {
	local pid any=1 n
	pid=$(pid_of kafka)
	if [[ -n $pid ]]; then
		echo "kafka: running, pid $pid, 127.0.0.1:$KAFKA_PORT (SASL_SSL 127.0.0.1:$KAFKA_SASL_PORT), log $RUN/kafka/kafka.log"
		any=0
	else
		echo "kafka: stopped"
	fi
	for n in $(cluster_nodes); do
		pid=$(pid_of "kafka-cluster-$n")
		if [[ -n $pid ]]; then
			echo "kafka-cluster node $n: running, pid $pid, 127.0.0.1:$(node_port "$n"), log $RUN/kafka-cluster/node$n/kafka.log"
			any=0
		else
			echo "kafka-cluster node $n: stopped"
		fi
	done
	pid=$(pid_of es)
	if [[ -n $pid ]]; then
		echo "elasticsearch: running, pid $pid, http://127.0.0.1:$ES_PORT, version $(es_version || true), log $RUN/es/es.log"
		any=0
	else
		echo "elasticsearch: stopped"
	fi
	pid=$(pid_of es-secure)
	if [[ -n $pid ]]; then
		echo "elasticsearch es-secure: running, pid $pid, https://127.0.0.1:$ES_SECURE_PORT, log $RUN/es-secure/es.log"
		any=0
	else
		echo "elasticsearch es-secure: stopped"
	fi
	return $any
}

cmd_env() {
	local any=1 n up=0
	if [[ -n $(pid_of kafka) ]]; then
		echo "export TOUSU_TEST_KAFKA=127.0.0.1:$KAFKA_PORT"
		# The SASL_SSL listener: its bootstrap, user, password file, CA
		# and a client certificate of that CA.
		echo "export TOUSU_TEST_KAFKA_SASL=127.0.0.1:$KAFKA_SASL_PORT"
		echo "export TOUSU_TEST_KAFKA_SASL_USER=$KAFKA_SASL_USER"
		echo "export TOUSU_TEST_KAFKA_SASL_PASSWORD_FILE=$RUN/kafka/sasl/password"
		echo "export TOUSU_TEST_KAFKA_SASL_CA_FILE=$RUN/kafka/tls/ca.pem"
		echo "export TOUSU_TEST_KAFKA_SASL_CERT_FILE=$RUN/kafka/tls/client.pem"
		echo "export TOUSU_TEST_KAFKA_SASL_KEY_FILE=$RUN/kafka/tls/client-key.pem"
		any=0
	else
		say "Kafka is not running: no TOUSU_TEST_KAFKA"
	fi
	for n in $(cluster_nodes); do
		[[ -n $(pid_of "kafka-cluster-$n") ]] && up=$((up + 1))
	done
	if ((up > 0)); then
		# The fault tests kill and start nodes through this script: they
		# need its run directory and the cluster's first port, which is
		# the port of the first broker listed.
		echo "export TOUSU_TEST_KAFKA_CLUSTER=$(cluster_bootstrap)"
		echo "export TOUSU_TEST_KAFKA_CLUSTER_RUN=$RUN"
		any=0
	else
		say "the Kafka cluster is not running: no TOUSU_TEST_KAFKA_CLUSTER"
	fi
	if [[ -n $(pid_of es) ]]; then
		echo "export TOUSU_TEST_ES=http://127.0.0.1:$ES_PORT"
		any=0
	else
		say "Elasticsearch is not running: no TOUSU_TEST_ES"
	fi
	if [[ -n $(pid_of es-secure) ]]; then
		# HTTPS with the CA made here, an API key, and the user elastic's
		# password; the fault tests stop and start it through this script.
		echo "export TOUSU_TEST_ES_SECURE=https://127.0.0.1:$ES_SECURE_PORT"
		echo "export TOUSU_TEST_ES_SECURE_CA_FILE=$RUN/es-secure/tls/ca.pem"
		echo "export TOUSU_TEST_ES_SECURE_API_KEY_FILE=$RUN/es-secure/api-key"
		echo "export TOUSU_TEST_ES_SECURE_PASSWORD_FILE=$RUN/es-secure/password"
		echo "export TOUSU_TEST_ES_SECURE_RUN=$RUN"
		echo "export TOUSU_TEST_ES_SECURE_TRANSPORT_PORT=$ES_SECURE_TRANSPORT_PORT"
		any=0
	else
		say "Elasticsearch es-secure is not running: no TOUSU_TEST_ES_SECURE"
	fi
	return $any
}

cmd_kafka_run() {
	(($# >= 1)) || die "usage: $0 kafka-run MAIN-CLASS [ARGS...]"
	need java "a JDK 17 or later"
	mkdir -p "$CACHE"
	fetch_kafka
	exec java -Xmx512m -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" -cp "$KAFKA_DIR/lib/*" "$@"
}

cmd_reset() {
	cmd_stop
	rm -rf "$RUN"
	say "removed $RUN"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) cmd_status ;;
kill-node) shift; cmd_kill_node "$@" ;;
start-node) shift; cmd_start_node "$@" ;;
env) cmd_env ;;
kafka-run) shift; cmd_kafka_run "$@" ;;
reset) cmd_reset ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
