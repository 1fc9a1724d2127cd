#!/usr/bin/env bash
# Start Debian's PgBouncer in transaction mode on 127.0.0.1:$PORT in front of the local
# PostgreSQL (127.0.0.1:5432, trust auth), for the PgBouncer test leg of .ci/run.
# Usage: .ci/pgbouncer.sh start PORT DIR | stop DIR. Prints nothing on success.
set -euo pipefail
cmd=$1
if [ "$cmd" = start ]; then
  port=$2 dir=$3
  mkdir -p "$dir"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432 user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 20
max_client_conn = 400
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  user_args=()
  # PgBouncer refuses to run as root.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$dir"
    user_args=(-u postgres)
  fi
  pgbouncer -d "${user_args[@]}" "$dir/pgbouncer.ini"
  for _ in $(seq 50); do  # listening within 5 s, or a failure
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then exit 0; fi
    sleep 0.1
  done
  echo "pgbouncer did not start listening on 127.0.0.1:$port" >&2
  exit 1
elif [ "$cmd" = stop ]; then
  dir=$2
  if [ -f "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi
fi
