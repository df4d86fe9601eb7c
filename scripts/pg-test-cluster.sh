#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on a loopback port for the catalogue tests (Debian's `postgresql` package).
#   scripts/pg-test-cluster.sh start DIR PORT   → initdb + start, prints the DATABASE_URL on stdout
#   scripts/pg-test-cluster.sh stop DIR         → stop and delete the cluster
#   scripts/pg-test-cluster.sh pause DIR        → stop the server, keeping the cluster (a fault: bench/soak.py)
#   scripts/pg-test-cluster.sh resume DIR       → start it again on its port
set -euo pipefail
action=${1:?start|stop}; dir=${2:?cluster folder}; port=${3:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
# PostgreSQL refuses to run as root: run it as the package's `postgres` user then.
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
user=$( [ "$(id -u)" = 0 ] && echo postgres || id -un )
start_server() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
}
case "$action" in
  start)
    rm -rf "$dir"; mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U "$user" -A trust --no-sync >/dev/null
    echo "$port" > "$dir/port"
    start_server "$port"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" shoplens_test
    echo "postgresql://$user@127.0.0.1:$port/shoplens_test"
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
  pause)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    start_server "$(cat "$dir/port")"
    ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
