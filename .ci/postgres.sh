#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the test suite and prints its URL.
#   bash .ci/postgres.sh start   -> prints postgres://trellis@127.0.0.1:PORT/trellis
#   bash .ci/postgres.sh stop
# Runs the server as the `postgres` user from a fresh data directory; trust auth on loopback only.
set -euo pipefail
DIR="${TRELLIS_PG_DIR:-/tmp/trellis-pg}"
PORT="${TRELLIS_PG_PORT:-55432}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
case "${1:-start}" in
  start)
    if [ -f "$DIR/data/postmaster.pid" ] && su postgres -c "$BIN/pg_ctl -D $DIR/data status" >/dev/null 2>&1; then
      echo "postgres://trellis@127.0.0.1:$PORT/trellis"; exit 0
    fi
    rm -rf "$DIR"; mkdir -p "$DIR"; chown postgres "$DIR"
    su postgres -c "$BIN/initdb -D $DIR/data -U postgres --auth=trust -E UTF8 >/dev/null"
    su postgres -c "$BIN/pg_ctl -D $DIR/data -l $DIR/log -w -o \"-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off\" start >/dev/null"
    su postgres -c "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -qc \"CREATE ROLE trellis LOGIN SUPERUSER\""
    su postgres -c "$BIN/createdb -h 127.0.0.1 -p $PORT -U postgres -O trellis trellis"
    echo "postgres://trellis@127.0.0.1:$PORT/trellis"
    ;;
  stop)
    su postgres -c "$BIN/pg_ctl -D $DIR/data -m fast stop" >/dev/null 2>&1 || true
    ;;
esac
