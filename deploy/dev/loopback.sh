# loopback.sh holds what the scripts that start private servers on
# 127.0.0.1 (dovecot.sh, postfix.sh) share. Source it after defining
# die(); it defines functions only.

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port PORT: prints PORT, or the first free one of the 100 after it.
free_port() {
  local port=$1 tries=0
  while port_busy "$port"; do
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || die "no free port near $1"
    port=$((port + 1))
  done
  echo "$port"
}

# wait_listening NAME PORT LOG: waits up to 10 s for a server to listen on
# PORT; says so, or shows the end of LOG and fails.
wait_listening() {
  local name=$1 port=$2 log=$3
  for _ in $(seq 1 100); do
    if port_busy "$port"; then
      echo "$name.sh: running on 127.0.0.1:$port ($DIR)" >&2
      return
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2 2>/dev/null || true
  die "$name is not listening on port $port"
}

# start_daemon NAME LOG COMMAND...: runs COMMAND (which starts a daemon
# and returns), its output appended to $DIR/NAME.start.log and its input
# closed, so the daemon keeps none of this script's output open (a caller
# that reads it through a pipe, as CI does, would wait for it forever); on
# failure shows the end of both logs and fails.
start_daemon() {
  local name=$1 log=$2
  shift 2
  if ! "$@" </dev/null >>"$DIR/$name.start.log" 2>&1; then
    tail -n 20 "$DIR/$name.start.log" >&2 2>/dev/null || true
    tail -n 20 "$log" >&2 2>/dev/null || true
    die "$name did not start"
  fi
}
