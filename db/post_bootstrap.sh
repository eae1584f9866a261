#!/bin/sh
# Patroni's bootstrap.post_bootstrap: run once, as postgres, right after initdb of a new cluster.
# Creates the app role and database with db/app_role.sql (the one definition `up` also runs); the
# password arrives as a SCRAM-SHA-256 verifier, so no clear password appears in `ps`. Patroni
# appends a superuser conninfo.
# Usage: post_bootstrap.sh PSQL ROLE DATABASE SCRAM_VERIFIER CONNINFO
set -eu
if [ "$#" -ne 5 ]; then
    echo "usage: $0 PSQL ROLE DATABASE SCRAM_VERIFIER CONNINFO" >&2
    exit 2
fi
psql=$1 role=$2 database=$3 verifier=$4 conninfo=$5

# psql variables (:"x" identifier, :'x' literal) do the quoting; -X skips any ~/.psqlrc.
exec "$psql" -X -q -v ON_ERROR_STOP=1 -v role="$role" -v database="$database" -v verifier="$verifier" \
    -d "$conninfo" -f "$(dirname "$0")/app_role.sql"
