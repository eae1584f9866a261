-- The application's role and database, idempotently: run by db/post_bootstrap.sh right after the
-- first initdb, and by `up` on every start (a changed password in secrets.json takes effect).
-- psql variables: role, database (identifiers, quoted by format %I) and verifier (the password as a
-- SCRAM-SHA-256 verifier, so no clear password is ever on a command line or in the server log).
-- \gexec runs each generated statement on its own: CREATE DATABASE refuses a transaction block.
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'verifier') \gexec
-- pg_monitor: read-only view of pg_stat_replication and the WAL position functions, which /readyz
-- and the router's replica checks need.
GRANT pg_monitor TO :"role";
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
