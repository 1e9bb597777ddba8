# Shared by scripts/slow-client.sh, outage.sh and mixed-load.sh (sourced).

# The binary: $1, else the release build (built when missing).
hardening_binary() {
  local target="${CARGO_TARGET_DIR:-target}"
  local bin="${1:-$target/release/session-ledger}"
  if [ ! -x "$bin" ]; then
    echo "building $bin" >&2
    cargo build --release --quiet
  fi
  echo "$bin"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

json_field() {
  python3 -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"
}

# Waits (up to 30 s) until the server at $1 answers /healthz.
wait_healthy() {
  for _ in $(seq 300); do
    curl -fs "http://$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server at $1 did not come up" >&2
  return 1
}

# A private PostgreSQL cluster under $work (initdb, its own port, trust);
# the shared server is never touched. Sets $pgport; pgctl runs pg_ctl on it.
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
as_postgres() { runuser -u postgres -- "$@"; }
pgctl() {
  as_postgres "$pgbin/pg_ctl" -D "$work/data" -l "$work/postgres.log" \
    -o "-p $pgport -k $work -c listen_addresses=127.0.0.1" "$@" >/dev/null
}
private_cluster() {
  chown postgres "$work"
  pgport="$(free_port)"
  as_postgres "$pgbin/initdb" -D "$work/data" -U postgres --auth=trust >/dev/null
  pgctl start -w
}
