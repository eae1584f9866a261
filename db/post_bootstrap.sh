#!/bin/sh
# Patroni's bootstrap.post_bootstrap: run once, as postgres, right after initdb of a new cluster.
# Creates the app role (LOGIN, password given as a SCRAM-SHA-256 verifier, so no clear password
# appears in `ps`) and the app database it owns. Patroni appends a superuser conninfo.
# Usage: post_bootstrap.sh PSQL ROLE DATABASE SCRAM_VERIFIER CONNINFO
set -eu
if [ "$#" -ne 5 ]; then
    echo "usage: $0 PSQL ROLE DATABASE SCRAM_VERIFIER CONNINFO" >&2
    exit 2
fi
psql=$1 role=$2 database=$3 verifier=$4 conninfo=$5

# psql variables (:"x" identifier, :'x' literal) do the quoting; -X skips any ~/.psqlrc.
"$psql" -X -q -v ON_ERROR_STOP=1 -v role="$role" -v database="$database" -v verifier="$verifier" \
    -d "$conninfo" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'verifier';
-- pg_monitor: read-only view of pg_stat_replication and lag functions for /readyz and the router.
GRANT pg_monitor TO :"role";
CREATE DATABASE :"database" OWNER :"role";
SQL
