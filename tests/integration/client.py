"""A small client of the box-office JSON API, as a script or load test would drive it.

Cookies are kept per user, not per host, so one user can talk to web1 and web2 directly
(behind the load balancer they share one host anyway).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class BoxOffice:
    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    http: requests.Session = field(default_factory=requests.Session)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.http.cookies.clear()
        r = self.http.request(method, f"{self.base}{path}", cookies=dict(self.cookies), timeout=15, **kwargs)
        for cookie in r.cookies:
            if cookie.value == "" or (cookie.expires is not None and cookie.expires <= 0):
                self.cookies.pop(cookie.name, None)
            else:
                self.cookies[cookie.name] = cookie.value or ""
        return r

    def login(self, username: str, password: str) -> BoxOffice:
        r = self._send("POST", "/api/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf_token"]
        return self

    def on(self, base: str) -> BoxOffice:
        """The same user (the same cookie jar) talking to another node."""
        return BoxOffice(base=base, cookies=self.cookies, csrf=self.csrf)

    def get(self, path: str) -> requests.Response:
        return self._send("GET", path)

    def every(self, path: str, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """Every item of a paginated list (``/api/orders``, ``/api/events``), following its ``next`` links."""
        items: list[dict[str, Any]] = []
        link: str | None = f"{path}?limit={limit}"
        while link:
            r = self.get(link)
            assert r.status_code == 200, r.text
            items.extend(r.json()[name])
            link = r.json()["next"]
        return items

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self._send("POST", path, **kwargs)

    def buy(
        self, event_id: int, quantity: Any = 1, key: str | None = None, csrf: bool = True
    ) -> requests.Response:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        if csrf:
            headers["X-CSRFToken"] = self.csrf
        return self._send(
            "POST", f"/api/events/{event_id}/orders", json={"quantity": quantity}, headers=headers
        )
