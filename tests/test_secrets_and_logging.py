"""A store's password never leaves through graylib; store faults on the payment path are logged, sparingly.

The Redis tests run a real redis-server with ``requirepass`` and a client whose store URL carries the
password; then the server goes away (or the password is wrong) and everything the runtime can show is
searched for it: decisions, release outcomes, ``status()`` and every log record.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graylib import Client, Context, MemoryStore, Reason, RedisStore, StoreError
from graylib._runtime._throttle import LogThrottle
from graylib.stores import ReleaseResult, ReserveRequest, ReserveResult
from tests.claims_support import RULE, limited_config
from tests.redis_server import PasswordRedisServer, RedisServer

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "pw-Zq81-not-for-logs"
ACCOUNT = "acct-7741-private"
PAYMENT_ID = "pay-9932-private"
CTX = Context(account=ACCOUNT, payment_type="online_purchase", amount=10_000, payment_id=PAYMENT_ID)


@pytest.fixture(name="server")
def server_fixture() -> Iterator[RedisServer]:
    with PasswordRedisServer(PASSWORD) as server:
        yield server


def _everything_shown(client: Client) -> list[str]:
    """Every text the runtime shows a caller while its store is failing."""
    shown = []
    for _ in range(3):
        decision = client.claim(RULE, CTX)
        assert decision.reason is Reason.ERROR
        shown.append(repr(decision))
        outcome = client.release(RULE, PAYMENT_ID)
        assert outcome.failed
        shown.append(repr(outcome))
    shown.append(repr(client.evaluate(RULE, CTX)))
    status = client.status()
    shown.append(repr(status))
    shown.append(repr(status.to_dict()))
    shown.append(repr(client))
    return shown


def test_a_password_in_the_store_url_never_shows_when_the_server_is_gone(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
    store = RedisStore(url, initialise=True)
    client = Client(limited_config(), cluster="sh-small", store=store, kill_refresh=0.05, kill_max_stale=0.2)
    caplog.set_level(logging.DEBUG, logger="graylib")
    try:
        assert client.claim(RULE, CTX).applies  # the password works while the server is up
        server.stop()
        time.sleep(0.3)  # past kill_max_stale: the stale-view details are shown too
        shown = _everything_shown(client)
        assert any("store unavailable" in text for text in shown)
        assert any("kill switches unknown" in text for text in shown)
        for text in [*shown, caplog.text, *(str(r.args) for r in caplog.records)]:
            assert PASSWORD not in text
        assert caplog.records, "the failures were logged"
    finally:
        client.close()
        store.close()


def test_a_wrong_password_never_shows(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-pw-5521-secret"
    store = RedisStore(f"redis://default:{wrong}@127.0.0.1:{server.port}/0")
    client = Client(limited_config(), cluster="sh-small", store=store, kill_refresh=0)
    caplog.set_level(logging.DEBUG, logger="graylib")
    try:
        shown = _everything_shown(client)
        for text in [*shown, caplog.text]:
            assert wrong not in text
    finally:
        client.close()
        store.close()


class _Down(MemoryStore):
    """Claims and releases fail with an error that quotes the URL, the account and the payment id."""

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        msg = f"redis://u:{PASSWORD}@db:6379/0 refused {request.payment_id} of {ACCOUNT}"
        raise StoreError(msg)

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        msg = f"redis://u:{PASSWORD}@db:6379/0 refused the release of {payment_id}"
        raise StoreError(msg)


def test_store_faults_are_logged_once_per_rule_and_interval_without_the_payment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client(limited_config({"total": {"count": 5}}), cluster="sh-small", store=_Down())
    caplog.set_level(logging.WARNING, logger="graylib")
    for _ in range(50):
        assert client.claim(RULE, CTX).reason is Reason.ERROR
        assert client.release(RULE, PAYMENT_ID).failed
    records = [r for r in caplog.records if r.name == "graylib"]
    messages = [r.getMessage() for r in records]
    claims = [m for m in messages if m.startswith("claim for rule")]
    releases = [m for m in messages if m.startswith("release for rule")]
    assert len(claims) == 1 and len(releases) == 1, messages
    for message in claims + releases:
        assert repr(RULE) in message
        assert "_Down" in message  # the store is named
        assert ACCOUNT not in message and PAYMENT_ID not in message and PASSWORD not in message
    assert all(r.levelno == logging.WARNING for r in records)
    client.close()


def test_the_throttle_logs_again_after_its_interval_and_counts_what_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    throttle = LogThrottle(logging.getLogger("graylib"), interval=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="graylib")
    for _ in range(5):
        throttle.warning(("claim", "r1"), "claim for rule %r failed", "r1")
    throttle.warning(("claim", "r2"), "claim for rule %r failed", "r2")  # another key: its own budget
    now[0] += 10.0
    throttle.warning(("claim", "r1"), "claim for rule %r failed", "r1")
    assert [r.getMessage() for r in caplog.records] == [
        "claim for rule 'r1' failed",
        "claim for rule 'r2' failed",
        "claim for rule 'r1' failed (4 more like it in the last 10 s not logged)",
    ]


def test_a_flood_of_rule_ids_neither_grows_the_throttle_nor_unthrottles_a_busy_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Caller-given rule ids are unbounded: the throttle keeps the most recent keys only, so a failing rule
    that keeps failing stays throttled while thousands of other ids pass through."""
    now = [100.0]
    throttle = LogThrottle(logging.getLogger("graylib"), interval=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="graylib")
    for i in range(5_000):
        throttle.warning(("claim", "busy"), "claim for rule %r failed", "busy")
        throttle.warning(("claim", f"r{i}"), "claim for rule %r failed", f"r{i}")
    busy = [r for r in caplog.records if r.getMessage().startswith("claim for rule 'busy'")]
    assert len(busy) == 1
    assert len(throttle._seen) <= 1024


def test_the_graylib_logger_has_a_null_handler_and_prints_nothing_by_default() -> None:
    code = textwrap.dedent(
        """
        import logging
        from graylib import Client, Context, MemoryStore, StoreError
        from tests.claims_support import RULE, limited_config

        assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("graylib").handlers)

        class Down(MemoryStore):
            def reserve(self, request):
                raise StoreError("down")

        client = Client(limited_config({"total": {"count": 5}}), cluster="sh-small", store=Down())
        ctx = Context(account="u-1", payment_type="online_purchase", amount=10_000, payment_id="p-1")
        print(client.claim(RULE, ctx).reason.value)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ERROR"
    assert proc.stderr == ""  # no "last resort" warning on stderr from a library that logs
