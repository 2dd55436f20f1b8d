"""``money``: the one way graylib writes an amount for people to read.

Amounts are integer minor units everywhere (cents, fen): in configs, decisions, stores, JSON and CSV. Text
for people shows them as the currency's main unit with two decimals and thousands separators
(``12,345.67``) and, where the figure is compared with a config value or an API result, the exact minor
units in parentheses (``81.00 (8100)``), so that nobody has to divide by a hundred in their head nor guess
which unit a bare number is in.
"""

from __future__ import annotations

__all__ = ["money"]


def money(minor: int, *, exact: bool = False) -> str:
    """``1234567`` -> ``"12,345.67"``; with ``exact``, ``"12,345.67 (1234567)"``.

    Two decimals: minor units are hundredths of the main unit (cents, fen), as everywhere in graylib.
    """
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    text = f"{sign}{whole:,}.{cents:02d}"
    return f"{text} ({minor})" if exact else text
