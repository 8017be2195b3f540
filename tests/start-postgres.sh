#!/usr/bin/env bash
# Start the Debian PostgreSQL cluster and prepare the test role and database (idempotent).
#
# Installs nothing: PostgreSQL must already be installed (apt-get install postgresql).
# Runs as root, or as a user with sudo. Prints the line to export for the store tests:
#
#   eval "$(tests/start-postgres.sh | tail -n 1)"
#   CALLSCOPE_REQUIRE_PG=1 pytest tests/engine/store tests/engine/test_export.py
#
# The role may create databases: the tests make a fresh database per test module.
set -euo pipefail

ROLE=callscope
PASSWORD=callscope
DATABASE=callscope_test
CLUSTER=main
PORT=5432

if [[ $(id -u) -eq 0 ]]; then
    as_postgres() { runuser -u postgres -- "$@"; }
    as_root() { "$@"; }
else
    as_postgres() { sudo -u postgres -- "$@"; }
    as_root() { sudo -- "$@"; }
fi

if [[ ! -d /etc/postgresql ]]; then
    echo "start-postgres: /etc/postgresql not found; install the postgresql package" >&2
    exit 1
fi
VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)
if [[ -z "$VERSION" ]]; then
    echo "start-postgres: no PostgreSQL cluster in /etc/postgresql" >&2
    exit 1
fi

status=$(pg_lsclusters --no-header | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')
if [[ "$status" != online* ]]; then
    echo "start-postgres: starting cluster $VERSION/$CLUSTER" >&2
    as_root pg_ctlcluster "$VERSION" "$CLUSTER" start
fi
for _ in $(seq 1 30); do
    if pg_isready -q -h localhost -p "$PORT"; then
        break
    fi
    sleep 1
done
if ! pg_isready -q -h localhost -p "$PORT"; then
    echo "start-postgres: PostgreSQL $VERSION/$CLUSTER is not accepting connections" >&2
    exit 1
fi

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"; }

psql_admin -d postgres <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    ELSE
        ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    END IF;
END
\$\$;
-- DROP DATABASE ... WITH (FORCE) must be able to stop an autovacuum worker in a test database.
GRANT pg_signal_backend TO $ROLE;
SQL

exists=$(psql_admin -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")
if [[ "$exists" != "1" ]]; then
    psql_admin -d postgres -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi

echo "start-postgres: PostgreSQL $VERSION ready; role $ROLE, database $DATABASE" >&2
echo "export CALLSCOPE_TEST_PG_URL=postgresql+psycopg://$ROLE:$PASSWORD@localhost:$PORT/$DATABASE"
