"""`make demo` tells a no-show story: a 1:1 that stayed on the calendar but the report never joined its
call (Teams, on the Outlook part of the demo org), sent to the manager and named in the closing note."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from sync.cli.demo import run_demo


def test_the_demo_closes_with_its_no_shows_and_where_their_warnings_went(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_demo(tmp_path, cycles=2, interval=0, console=Console(file=out, width=400)) == 0
    notes = [line for line in out.getvalue().splitlines() if line.startswith("No-show:")]
    assert notes, out.getvalue()[-3000:]
    assert all("stayed on the calendar, but" in n and "did not join" in n for n in notes)
    assert all(".eml" in n or ".json" in n for n in notes), notes  # the email, or the Slack DM, it went out as
    sent = [*(tmp_path / "mail").glob("*.eml"), *(tmp_path / "slack").glob("*.json")]
    assert any("did not join" in p.read_bytes().decode("utf-8", "replace") for p in sent)
