#!/usr/bin/env bash
# Collector store throughput on SQLite and on a PostgreSQL started here (127.0.0.1, a
# temporary directory, stopped after): `benches/collector/run.sh [events]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-20000}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)
tmp=$(mktemp -d)
chmod 777 "$tmp"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { as_pg "$bin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
as_pg "$bin/initdb" -D "$tmp/data" -U edgeflow --auth=trust -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$tmp/data" -o "-p $port -k $tmp -c listen_addresses=127.0.0.1" -l "$tmp/log" -w start >/dev/null
as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U edgeflow edgeflow
cargo run --quiet --release --locked -p edgeflow-benches --bin collector-store -- \
  --events "$events" --postgres "postgres://edgeflow@127.0.0.1:$port/edgeflow"
