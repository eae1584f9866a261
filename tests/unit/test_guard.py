"""Pure logic of issue 12's application half: cache signing, client address, login throttle, the login
endpoint's cross-site guard, list cursors, and the e-mail settings of each profile."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from boxoffice import cursors
from boxoffice.validation import InvalidInput
from deploy.model.paths import StatePaths
from deploy.model.secrets import Secrets
from deploy.render.django_env import web_environment
from deploy.roles import loads
from guard.client import address_from, parse_networks
from guard.origin import login_refusal
from guard.throttle import Limits, LoginThrottled, admit, retry_after
from tiers_site.cachesign import FLAG_INTEGER, FLAG_SIGNED_JSON, SignedJsonSerde, signing_key
from tiers_site.config import cluster_settings as build

REPO = Path(__file__).resolve().parents[2]
SERDE = SignedJsonSerde(signing_key("x" * 50))


# --- cache signing ---


def test_values_are_stored_as_signed_json_and_read_back() -> None:
    value = {"_auth_user_id": "7", "list": [1, "a", None], "built_at": 1.5}
    data, flags = SERDE.serialize(b"k1", value)
    assert flags == FLAG_SIGNED_JSON
    assert data.split(b".", 1)[1] == b'{"_auth_user_id":"7","list":[1,"a",null],"built_at":1.5}'
    assert SERDE.deserialize("k1", data, flags) == value  # str or bytes keys alike


def test_a_forged_or_moved_entry_is_a_miss() -> None:
    data, flags = SERDE.serialize(b"k1", {"_auth_user_id": "7"})
    forged = data.replace(b'"7"', b'"1"')
    assert SERDE.deserialize(b"k1", forged, flags) is None
    assert SERDE.deserialize(b"k2", data, flags) is None  # the MAC covers the key
    other = SignedJsonSerde(signing_key("y" * 50))
    assert other.deserialize(b"k1", data, flags) is None  # another SECRET_KEY
    assert SERDE.deserialize(b"k1", b"no-separator", FLAG_SIGNED_JSON) is None


def test_a_pickle_is_never_unpickled() -> None:
    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("unpickled")

    raw = pickle.dumps({"a": 1})
    assert SERDE.deserialize(b"k", raw, 1) is None  # pymemcache's FLAG_PICKLE
    assert SERDE.deserialize(b"k", raw, FLAG_SIGNED_JSON) is None
    with pytest.raises(TypeError, match="JSON"):
        SERDE.serialize(b"k", Boom())


def test_integers_stay_plain_for_memcached_incr() -> None:
    assert SERDE.serialize(b"n", 41) == (b"41", FLAG_INTEGER)
    assert SERDE.deserialize(b"n", b"42", FLAG_INTEGER) == 42
    assert SERDE.deserialize(b"n", b"4x", FLAG_INTEGER) is None
    assert SERDE.serialize(b"n", True)[1] == FLAG_SIGNED_JSON  # a bool is not a counter


# --- client address ---

LB = parse_networks("TRUSTED_PROXIES", "127.1.0.1")


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("127.1.0.1", "203.0.113.9", "203.0.113.9"),  # from the LB: its header
        ("127.1.0.1", "1.1.1.1, 203.0.113.9", "203.0.113.9"),  # the last entry is the LB's own
        ("127.1.0.1", "not-an-ip", "127.1.0.1"),
        ("127.1.0.1", None, "127.1.0.1"),
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # anyone else: a claim, ignored
    ],
)
def test_client_address_believes_only_the_load_balancer(
    remote: str, forwarded: str | None, expected: str
) -> None:
    assert address_from(remote, forwarded, LB) == expected


def test_bad_networks_name_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="ADMIN_ALLOWED_NETWORKS: 'ten'"):
        build({"ADMIN_ALLOWED_NETWORKS": "10.0.0.0/8,ten"})


# --- login throttle (a dict standing in for memcached's add/incr/decr/get) ---


class Counters:
    def __init__(self) -> None:
        self.data: dict[str, int] = {}

    def add(self, key: str, value: int, timeout: int) -> bool:
        return self.data.setdefault(key, value) == value and key in self.data

    def incr(self, key: str) -> int:
        self.data[key] += 1
        return self.data[key]

    def decr(self, key: str) -> int:
        self.data[key] -= 1
        return self.data[key]

    def get(self, key: str) -> int | None:
        return self.data.get(key)


LIMITS = Limits(per_username=10, per_address=30, window=60)


def test_the_eleventh_attempt_after_ten_failures_is_refused_whatever_the_password() -> None:
    cache = Counters()
    for i in range(10):
        admit(cache, LIMITS, "alice", f"10.0.0.{i}", now=1000.0 + i)  # failures: never given back
    with pytest.raises(LoginThrottled) as refused:
        admit(cache, LIMITS, "alice", "10.0.0.99", now=1012.0)
    assert refused.value.scope == "username"
    assert 1 <= refused.value.retry_after <= 120
    admit(cache, LIMITS, "bob", "10.0.0.99", now=1012.0)  # another user is not affected


def test_failures_of_the_previous_window_still_count() -> None:
    cache = Counters()
    for i in range(10):
        admit(cache, LIMITS, "alice", "10.0.0.1", now=1079.0 + i * 0.01)  # end of bucket 17
    with pytest.raises(LoginThrottled):
        admit(cache, LIMITS, "alice", "10.0.0.1", now=1081.0)  # bucket 18: bucket 17 still counts
    admit(cache, LIMITS, "alice", "10.0.0.1", now=1141.0)  # bucket 19: bucket 17 has aged out


def test_successes_give_their_count_back_and_refusals_count_nothing() -> None:
    cache = Counters()
    for _ in range(50):
        admit(cache, LIMITS, "alice", "10.0.0.1", now=1000.0).succeeded()
    for i in range(30):
        admit(cache, LIMITS, f"user{i}", "10.0.0.1", now=1000.0)
    for _ in range(5):
        with pytest.raises(LoginThrottled) as refused:
            admit(cache, LIMITS, "alice", "10.0.0.1", now=1000.0)
        assert refused.value.scope == "address"
    assert sorted(set(cache.data.values())) == [0, 1, 30]  # alice's username count is back to 0


@pytest.mark.parametrize(
    ("now", "failures", "expected"), [(1000.0, 3, 20), (1000.0, 10, 80), (1019.5, 0, 1), (1020.0, 0, 60)]
)
def test_retry_after_waits_for_the_window_that_counts(now: float, failures: int, expected: int) -> None:
    assert retry_after(now, 60, failures, 10) == expected


# --- the login endpoint's cross-site guard ---

OWN = "https://shop.example.com"


@pytest.mark.parametrize(
    ("content_type", "origin", "site", "status"),
    [
        ("application/json", None, None, None),  # a script or the test client
        ("application/json; charset=utf-8", OWN, "same-origin", None),
        ("application/json", "https://partner.example.net", None, None),  # CSRF_TRUSTED_ORIGINS
        ("text/plain", None, None, 415),
        ("application/x-www-form-urlencoded", OWN, None, 415),
        ("text/plain", "https://evil.example", "cross-site", 403),
        ("application/json", "https://evil.example", None, 403),
        ("application/json", "null", None, 403),  # sandboxed iframes, data: URLs
        ("application/json", None, "cross-site", 403),
    ],
)
def test_login_refuses_what_a_cross_site_page_can_send(
    content_type: str, origin: str | None, site: str | None, status: int | None
) -> None:
    refusal = login_refusal(content_type, origin, site, OWN, ["https://partner.example.net"])
    assert (refusal[0] if refusal else None) == status


# --- cursors ---

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_cursor_round_trip_and_garbage() -> None:
    key = (T0 + timedelta(microseconds=5), 42)
    assert cursors.decode(cursors.encode(key)) == key
    assert cursors.decode(None) is None and cursors.decode("") is None
    for bad in ("!!!", "bm90IGpzb24", cursors.encode((T0, 1))[:-3], "WyIyMDI2LTExLTMwVDEyOjAwOjAwIiwxXQ"):
        with pytest.raises(InvalidInput, match="cursor"):  # the last one: a naive timestamp
            cursors.decode(bad)


def test_pages_cover_a_list_once_each_within_the_size() -> None:
    items = [{"at": T0 + timedelta(minutes=i // 3), "id": i} for i in range(47)]  # ties on the timestamp

    def key(item: dict) -> cursors.Key:
        return item["at"], item["id"]

    seen, after = [], None
    while True:
        page, cursor = cursors.page_after(items, key, cursors.decode(after), 10)
        assert len(page) <= 10
        seen.extend(page)
        if cursor is None:
            break
        after = cursor
    assert seen == items


@pytest.mark.parametrize("raw", ["0", "101", "-1", "ten", "1.5"])
def test_page_size_is_bounded(raw: str) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        cursors.page_size(raw)
    assert cursors.page_size(None) == cursors.DEFAULT_PAGE_SIZE
    assert cursors.page_size("100") == cursors.MAX_PAGE_SIZE


# --- e-mail and admin settings as rendered for a node ---


def _render(profile: str, extra: str = "") -> dict[str, str]:
    text = (
        (REPO / "deploy/topologies/local.toml")
        .read_text()
        .replace('profile = "local"', f'profile = "{profile}"')
    )
    topo = loads(text + extra)
    paths = StatePaths(root=Path("/state"), repo=Path("/repo"))
    return web_environment(topo, topo.by_role("web")[0], paths, Secrets.fixed_for_tests())


def test_a_production_render_without_a_relay_is_refused_and_with_one_sends_smtp() -> None:
    """Probe: the production profile's rendered environment through the settings and the system check."""
    without = _render("production")
    assert without["EMAIL_BACKEND"] == "console"  # guard.checks makes that a startup error
    assert without["ADMIN_ALLOWED_NETWORKS"] == ""  # production with none set: nobody
    env = _render("production", '\n[email]\nhost = "email-smtp.eu-west-1.amazonaws.com"\nuser = "AKIA"\n')
    settings = build({**env, "DJANGO_SECRET_KEY": "k" * 30 + "abcdefghij0123456789"})
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"], settings["EMAIL_USE_TLS"]) == (
        "email-smtp.eu-west-1.amazonaws.com", 587, True,
    )  # fmt: skip
    assert env["TRUSTED_PROXIES"] == "127.0.0.1"  # local.toml's lb: only its X-Forwarded-For counts


def test_smtp_without_a_host_and_unknown_backends_are_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="EMAIL_HOST"):
        build({"EMAIL_BACKEND": "smtp"})
    with pytest.raises(ImproperlyConfigured, match="EMAIL_BACKEND='sendgrid'"):
        build({"EMAIL_BACKEND": "sendgrid"})
