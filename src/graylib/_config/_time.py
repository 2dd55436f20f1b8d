"""The one reader of date-time text in a config: RFC 3339, the same answer on every supported Python.

``datetime.fromisoformat`` is not used: it reads more on 3.11+ than on 3.10 (basic format such as
``20250116T000000+0800``, week dates, any separator, fractions of any length), so one file would be valid on
one interpreter and refused on another.

Accepted, and nothing else (ASCII digits only, the whole text, no surrounding spaces)::

    YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)

- the separator is ``T``, ``t`` or one space; ``Z`` may be ``z``; ``-00:00`` means UTC;
- seconds are required; a fraction has one or more digits and is read to the microsecond (further digits are
  dropped, as TOML readers do);
- without an offset the text is read as a naive date-time, which the config then refuses for its missing
  offset (a clearer message than "does not parse");
- ISO 8601 basic format, week and ordinal dates, offsets without a colon or minutes, hour 24 and leap
  second 60 are refused.

TOML date-times are read by the TOML parser, to the same grammar; JSON and YAML date-times are text read here
(the YAML reader keeps YAML's own timestamps as text for this).
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["FORMS", "parse_datetime"]

FORMS = "YYYY-MM-DDTHH:MM:SS[.fraction] with Z or an offset such as +08:00"
"""How the accepted form is shown in messages."""

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?",
    re.ASCII,
)


def parse_datetime(text: str) -> dt.datetime:
    """The date-time ``text`` names (naive when it has no offset); ``ValueError`` saying why otherwise."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        msg = f"not an RFC 3339 date-time ({FORMS})"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    tz: dt.tzinfo | None = None
    if zulu:
        tz = dt.timezone.utc
    elif sign:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            msg = f"not an RFC 3339 date-time: offset {sign}{off_h}:{off_m} is out of range"
            raise ValueError(msg)
        delta = dt.timedelta(hours=hours, minutes=minutes)
        tz = dt.timezone.utc if not delta else dt.timezone(-delta if sign == "-" else delta)
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
        )
    except ValueError as exc:
        msg = f"not an RFC 3339 date-time: {exc}"
        raise ValueError(msg) from None
