#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL cluster on 127.0.0.1, its URL in SHOPLENS_TEST_DATABASE_URL;
# the cluster is stopped and deleted afterwards. Without PostgreSQL installed the command runs without it
# (the PostgreSQL tests then skip, unless SHOPLENS_REQUIRE_POSTGRES=1 makes them fail).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${SHOPLENS_TEST_DATABASE_URL:-}" ] || ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  exec "$@"
fi
dir=$(mktemp -d /tmp/shoplens-pg.XXXXXX); chmod 755 "$dir"
port=${SHOPLENS_TEST_PG_PORT:-$(( 54000 + RANDOM % 1000 ))}
trap '"$here/pg-test-cluster.sh" stop "$dir"' EXIT
url=$("$here/pg-test-cluster.sh" start "$dir" "$port") || { echo "could not start PostgreSQL" >&2; exit 1; }
echo "PostgreSQL for the tests: $url" >&2
SHOPLENS_TEST_DATABASE_URL=$url "$@"
