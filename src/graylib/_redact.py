"""``redact_url``: a store URL as it may be shown (messages, ``status()``, logs, CLI output).

A Redis URL may carry credentials (``redis://user:secret@host/0``, ``?password=secret``). Anything a URL
is echoed into - an exception message, a decision's detail, a log line - shows the redacted form, so that
a password never leaves the process through graylib.
"""

from __future__ import annotations

import re

__all__ = ["describe_error", "describe_store", "redact_url"]

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^@/?#]*)@")
_SECRET_QUERY = re.compile(r"(?i)(?P<key>[?&;](?:password|pass|pwd|secret|token|auth)=)[^&;#]*")
_MASK = "***"


def redact_url(url: str) -> str:
    """``url`` with every password in it replaced by ``***`` (user names stay, for diagnosis).

    Each netloc of the URL (a cluster URL lists several, comma-separated) loses the password part of its
    ``user:password@``; a ``user@`` without a colon is taken as a password (redis-py reads it as one);
    ``password=``-like query options are masked. A text that is no URL comes back unchanged.
    """

    def userinfo(match: re.Match[str]) -> str:
        user, colon, _secret = match["user"].partition(":")
        if colon:
            return f"{match['scheme']}{user}:{_MASK}@"
        return f"{match['scheme']}{_MASK}@"

    text = _USERINFO.sub(userinfo, url)
    # cluster seeds after the first: ",user:secret@host:port"
    text = re.sub(r",(?P<user>[^,@/?#:]*):[^,@/?#]*@", lambda m: f",{m['user']}:{_MASK}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{_MASK}", text)


def describe_error(exc: BaseException) -> str:
    """``"StoreError: ..."``: an exception as a detail, a status field or a log line may show it.

    Every URL in the text is redacted (``redact_url``): a store's error may quote its URL.
    """
    return redact_url(f"{type(exc).__name__}: {exc}")


def describe_store(store: object) -> str:
    """``"RedisStore('redis://:***@host:6379/0')"``: a store as a log line may name it, without secrets."""
    name = type(store).__name__
    for attribute in ("url", "path", "_url", "_path"):
        where = getattr(store, attribute, None)
        if isinstance(where, str) and where:
            return f"{name}({redact_url(where)!r})"
    return name
