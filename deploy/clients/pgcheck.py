"""`python -m deploy.clients.pgcheck HOST PORT DBNAME USER` (password on stdin): primary, replica or down.

Run on a host that may reach the database (a web node's), so the check crosses the same network path and
firewall as the application's connections; the password never appears in argv.
"""

from __future__ import annotations

import sys

import psycopg2


def check(host: str, port: int, dbname: str, user: str, password: str) -> str:
    try:
        conn = psycopg2.connect(
            host=host, port=port, dbname=dbname, user=user, password=password, connect_timeout=2
        )
    except psycopg2.OperationalError:
        return "down"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT NOT pg_is_in_recovery()")
            return "primary" if cur.fetchone()[0] else "replica"
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    host, port, dbname, user = argv
    result = check(host, int(port), dbname, user, sys.stdin.read().strip())
    print(result)
    return 0 if result != "down" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
