"""`make bench`, onsale section: the same surge of buyers with the waiting room off, then on.

Off: every buyer posts a purchase the moment it arrives. On: every buyer joins the queue, polls, and buys
once admitted (deploy/commands/onsale_load.py). Both runs: the same buyers (sessions made by
`manage.py seed_buyers`), a fresh event of the same size, the same arrival window, and a few browsers asking
the cached event list throughout, whose latency is the page views' figure. Bounded: SURGE_BUYERS buyers,
DEADLINE_S per run. Loopback addresses only. The chart goes to docs/bench-onsale.png.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from . import onsale_load
from .context import Cluster
from .django_ops import manage
from .progress import Progress

SURGE_BUYERS = 1000
TICKETS = 200
ARRIVAL_WINDOW_S = 5.0
DEADLINE_S = 90.0
# Buyers in flight at once (the load generator's threads): enough that, with the waiting room off, the
# whole crowd reaches the load balancer at once, as it would in the wild.
CLIENTS = 250
# On this box two web nodes of one worker each sell ~10 tickets/s: admit about that many.
CHECKOUT_CAPACITY = 20
ADMISSION_RATE = 10
CHART = "bench-onsale.png"


def pct(values: list[float], p: float) -> float:
    """The p-quantile (nearest rank) of ``values`` in milliseconds; 0 for none."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def _event(cluster: Cluster, waiting_room: bool) -> int:
    args = ["create_event", f"Bench onsale ({'on' if waiting_room else 'off'})", "--capacity", str(TICKETS)]
    if waiting_room:
        args += [
            "--onsale",
            "--checkout-capacity",
            str(CHECKOUT_CAPACITY),
            "--admission-rate",
            str(ADMISSION_RATE),
        ]
    out = manage(cluster, args, quiet=True, timeout=60)
    return int(json.loads(out.strip().splitlines()[-1])["id"])


def _buyers(cluster: Cluster, prefix: str) -> list[onsale_load.Buyer]:
    out = manage(cluster, ["seed_buyers", str(SURGE_BUYERS), "--prefix", prefix], quiet=True, timeout=300)
    return [onsale_load.Buyer(*row) for row in json.loads(out.strip().splitlines()[-1])["buyers"]]


def figures(surge: onsale_load.Surge) -> dict[str, float]:
    checkout = [s for b in surge.buyers for s in b.checkout_s]
    requests = sum(surge.statuses.values())
    busy = sum(n for (_kind, status), n in surge.statuses.items() if status == "busy")
    pages = sum(surge.page_statuses.values())
    page_errors = sum(n for status, n in surge.page_statuses.items() if status == "busy" or status >= 500)
    return {
        "sold": surge.outcomes()["bought"],
        "seconds": surge.seconds,
        "checkout_p50": pct(checkout, 0.5),
        "checkout_p99": pct(checkout, 0.99),
        "page_p50": pct(surge.page_views_s, 0.5),
        "page_p99": pct(surge.page_views_s, 0.99),
        "pages": pages,
        "requests": requests,
        "busy_share": busy / max(1, requests),
        "error_share": sum(surge.errors().values()) / max(1, requests),
        "page_error_share": page_errors / max(1, pages),
    }


def write_chart(path: Path, off: dict[str, float], on: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, what, title in (
        (left, "checkout", "Checkout (admitted buyers' purchase)"),
        (right, "page", "Page views"),
    ):
        labels = ["p50", "p99"]
        x = range(len(labels))
        bars_off = ax.bar(
            [i - 0.2 for i in x],
            [off[f"{what}_{q}"] for q in labels],
            0.4,
            label="waiting room off",
            color="#b5651d",
        )
        bars_on = ax.bar(
            [i + 0.2 for i in x],
            [on[f"{what}_{q}"] for q in labels],
            0.4,
            label="waiting room on",
            color="#2f6690",
        )
        ax.bar_label(bars_off, fmt="%.0f")
        ax.bar_label(bars_on, fmt="%.0f")
        ax.set_xticks(list(x), labels)
        ax.set_ylabel("ms")
        ax.set_title(title)
        ax.legend()
    fig.suptitle(
        f"{SURGE_BUYERS} buyers arriving within {ARRIVAL_WINDOW_S:.0f} s for {TICKETS} tickets; same 2 cores as the cluster",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def onsale(cluster: Cluster, progress: Progress) -> list[str]:
    lb = cluster.topo.one("lb")
    target = (lb.address, lb.port)
    with progress.step(f"seeding {SURGE_BUYERS} buyers with sessions (seed_buyers)"):
        buyers = _buyers(cluster, f"bench-{uuid.uuid4().hex[:8]}-")
    results: dict[str, dict[str, float]] = {}
    for waiting_room in (False, True):
        name = "on" if waiting_room else "off"
        event_id = _event(cluster, waiting_room)
        fresh = [onsale_load.Buyer(b.user_id, b.username, b.session) for b in buyers]
        load = os.getloadavg()[0]  # other clusters on the same box: say how busy it was
        with progress.step(f"surge with the waiting room {name} ({SURGE_BUYERS} buyers, {TICKETS} tickets)"):
            surge = onsale_load.run(
                target, event_id, fresh, waiting_room=waiting_room, arrival_window_s=ARRIVAL_WINDOW_S,
                deadline_s=DEADLINE_S, threads=CLIENTS,
            )  # fmt: skip
        results[name] = {**figures(surge), "load": load}
    write_chart(cluster.paths.repo / "docs" / CHART, results["off"], results["on"])
    rows = [
        f"| {name} | {r['sold']:.0f} | {r['seconds']:.0f} | {r['checkout_p50']:.0f} | {r['checkout_p99']:.0f} | "
        f"{r['page_p50']:.0f} | {r['page_p99']:.0f} | {r['busy_share']:.1%} | {r['error_share']:.1%} | "
        f"{r['page_error_share']:.1%} | {r['load']:.1f} |"
        for name, r in results.items()
    ]
    return [
        "## Onsale: the same surge with the waiting room off and on",
        "",
        f"{SURGE_BUYERS} buyers (sessions made by `seed_buyers`) arrive evenly within {ARRIVAL_WINDOW_S:.0f} s "
        f"for {TICKETS} tickets, through the load balancer ({CLIENTS} client threads); 4 browsers ask `/api/events` throughout. Off: each "
        f"buyer posts its purchase on arrival. On: join, poll, buy when admitted (checkout capacity "
        f"{CHECKOUT_CAPACITY}, {ADMISSION_RATE} admissions/s). Busy 503s (HAProxy's page, Retry-After) are "
        "retried when told, with the same Idempotency-Key. Checkout = the successful purchase request. "
        "Everything (both web nodes, both queue nodes, the database, the load generator) shares the box's 2 cores "
        "with the other clusters running there (the load column): single runs, noisy, the ratio is the point.",
        "",
        "| waiting room | sold | s to serve all | checkout p50 ms | checkout p99 ms | page p50 ms | page p99 ms "
        "| busy 503 share | other 5xx share | page views failed | box load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"![Onsale, waiting room off vs on]({CHART})",
        "",
    ]
