"""Date-times in a config read the same on every supported Python: one table of inputs and answers.

``datetime.fromisoformat`` grew between 3.10 and 3.11 (basic format, week dates, any fraction length), so a
file valid on one interpreter was refused on another. The config reads RFC 3339 text with its own parser.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from graylib import ConfigError, load_config
from graylib._config._time import parse_datetime
from tests.helpers import make_config

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))

ACCEPTED = {
    "2025-01-16T00:00:00+08:00": dt.datetime(2025, 1, 16, tzinfo=CST),
    "2025-01-16T00:00:00Z": dt.datetime(2025, 1, 16, tzinfo=UTC),
    "2025-01-16t00:00:00z": dt.datetime(2025, 1, 16, tzinfo=UTC),
    "2025-01-16 00:00:00+08:00": dt.datetime(2025, 1, 16, tzinfo=CST),
    "2025-01-16T00:00:00-00:00": dt.datetime(2025, 1, 16, tzinfo=UTC),
    "2025-01-16T23:59:59.5+08:00": dt.datetime(2025, 1, 16, 23, 59, 59, 500_000, tzinfo=CST),
    "2025-01-16T23:59:59.123456Z": dt.datetime(2025, 1, 16, 23, 59, 59, 123_456, tzinfo=UTC),
    # digits past the microsecond are dropped, as TOML readers do
    "2025-01-16T23:59:59.1234567Z": dt.datetime(2025, 1, 16, 23, 59, 59, 123_456, tzinfo=UTC),
    "2025-01-16T23:59:59.123456789-05:30": dt.datetime(
        2025, 1, 16, 23, 59, 59, 123_456, tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30))
    ),
}

NO_OFFSET = ["2025-01-16T00:00:00", "2025-01-16 12:30:00.25"]

REFUSED = [
    "20250116T000000+0800",  # basic format: refused everywhere (3.11+ fromisoformat read it)
    "20250116T000000Z",
    "2025-01-16T00:00:00+0800",  # offset without its colon
    "2025-01-16T00:00:00+08",
    "2025-W03-4T00:00:00+08:00",  # week date (3.11+ read it)
    "2025-016T00:00:00+08:00",  # ordinal date
    "2025-01-16T00:00+08:00",  # seconds are required (RFC 3339)
    "2025-01-16",  # a date alone is not a moment
    "2025-01-16T00:00:00.+08:00",
    "2025-01-16X00:00:00+08:00",  # 3.10 read any separator
    "2025-01-16T24:00:00Z",
    "2025-01-16T23:59:60Z",  # leap seconds cannot be represented
    "2025-02-30T00:00:00Z",
    "2025-01-16T00:00:00+24:00",
    "2025-01-16T00:00:00Z\n",
    " 2025-01-16T00:00:00Z",
    "２０２５-01-16T00:00:00Z",  # noqa: RUF001 - full-width digits are digits to \\d, not to RFC 3339
    "2025-01-16T00:00:00 +08:00",
    "",
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED.items())
def test_accepted_forms(text: str, expected: dt.datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", NO_OFFSET)
def test_a_date_time_without_offset_parses_and_the_config_asks_for_one(text: str) -> None:
    assert parse_datetime(text).tzinfo is None
    with pytest.raises(ConfigError, match=r"rules\[0\].starts_at: must include a UTC offset"):
        load_config(make_config({"starts_at": text}))


@pytest.mark.parametrize("text", REFUSED)
def test_refused_forms(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_datetime(text)
    with pytest.raises(ConfigError, match=r"rules\[0\].starts_at: must be an RFC 3339 date-time"):
        load_config(make_config({"starts_at": text}))


def test_yaml_date_times_go_through_the_same_parser(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    text = yaml.safe_dump(make_config({"starts_at": "X"}))
    assert "starts_at: X\n" in text
    text = text.replace("starts_at: X", "starts_at: 2025-01-16 00:00:00 +8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)  # YAML's own timestamp form; RFC 3339 has no space before the offset
    with pytest.raises(ConfigError, match=r"rules\[0\].starts_at: must be an RFC 3339 date-time"):
        load_config(bad)
    ok = tmp_path / "ok.yaml"
    ok.write_text(text.replace("2025-01-16 00:00:00 +8", "2025-01-16T00:00:00+08:00"))
    assert load_config(ok).rules[0].starts_at == dt.datetime(2025, 1, 16, tzinfo=CST)


INTERPRETERS = sorted(Path.home().glob(".pyenv/versions/3.1[0-9]*/bin/python3"))


@pytest.mark.skipif(not INTERPRETERS, reason="no other interpreters on this machine; CI runs each version")
def test_every_interpreter_here_gives_the_same_answers() -> None:
    """The parser uses no interpreter-specific reader: run the table on each Python found here."""
    src = str(Path(__file__).resolve().parents[1] / "src" / "graylib" / "_config" / "_time.py")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('t', {src!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "out = {}\n"
        "for text in json.loads(sys.stdin.read()):\n"
        "    try: out[text] = m.parse_datetime(text).isoformat()\n"
        "    except ValueError: out[text] = None\n"
        "print(json.dumps(out))\n"
    )
    table = [*ACCEPTED, *NO_OFFSET, *REFUSED]
    answers = {}
    for python in INTERPRETERS:
        done = subprocess.run(
            [str(python), "-c", code],
            input=json.dumps(table),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0 and "SyntaxError" in done.stderr:
            continue  # older than the package supports
        assert done.returncode == 0, (python, done.stderr[-2000:])
        answers[str(python)] = json.loads(done.stdout)
    mine: dict[str, str | None] = {}
    for text in table:
        try:
            mine[text] = parse_datetime(text).isoformat()
        except ValueError:
            mine[text] = None
    assert answers and all(found == mine for found in answers.values()), answers
