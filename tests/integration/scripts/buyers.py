"""A buyer and a reader against one site, one JSON line per attempt, until killed or ``--seconds`` pass.

    python -m tests.integration.scripts.buyers --base http://10.232.0.10:8080 --event 7 [--seconds 120]

Run where the site is reachable (the fleet test runs it inside the rehearsal fleet's internet namespace).
Each line: {"t": wall-clock time the answer came, "op": "buy" | "read", "status": HTTP status or 0 for no
answer, "id": the order id of a 201}.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from tests.integration.client import BoxOffice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--event", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    lock = threading.Lock()

    def emit(op: str, status: int, order: int | None = None) -> None:
        with lock:
            print(json.dumps({"t": time.time(), "op": op, "status": status, "id": order}), flush=True)

    def buyer() -> None:
        bo = BoxOffice(args.base).login("demo", "demo")
        while time.monotonic() < deadline:
            try:
                r = bo.buy(args.event, 1)
                emit("buy", r.status_code, r.json().get("id") if r.status_code == 201 else None)
            except Exception:  # no answer (timeout, reset): not acknowledged
                emit("buy", 0)
            time.sleep(0.05)

    def reader() -> None:
        bo = BoxOffice(args.base)
        while time.monotonic() < deadline:
            try:
                emit("read", bo.get(f"/api/events/{args.event}").status_code)
            except Exception:
                emit("read", 0)
            time.sleep(0.1)

    threads = [threading.Thread(target=buyer, daemon=True), threading.Thread(target=reader, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
