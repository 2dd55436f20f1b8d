"""Credentials in store URLs never appear in what graylib prints."""

from __future__ import annotations

import pytest

from graylib._redact import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://alice:hunter2@127.0.0.1:6379/0", "redis://alice:***@127.0.0.1:6379/0"),
        ("rediss://hunter2@h:1", "rediss://***@h:1"),
        ("redis://h:1/0?password=hunter2&socket_timeout=1", "redis://h:1/0?password=***&socket_timeout=1"),
        ("redis+cluster://a:hunter2@h1:1,b:hunter2@h2:2", "redis+cluster://a:***@h1:1,b:***@h2:2"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        ("memory://", "memory://"),
        ("not a url", "not a url"),
    ],
)
def test_redacts_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)
