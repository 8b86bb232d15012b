"""`make demo` as a new user sees it: short, in names and words, links that do not scroll away."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from sync.cli import main
from sync.cli.demo import run_demo


def test_the_demo_speaks_in_names_fits_80_columns_and_repeats_only_what_changed(tmp_path: Path, capsys: object) -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    assert run_demo(tmp_path / "demo", cycles=3, interval=0, console=console) == 0
    text = out.getvalue()
    cycles = re.split(r"─+ cycle \d ─+\n", text)
    assert len(cycles) == 4, text
    first, second, third = cycles[1:]
    # The findings table: once in full, then only what is new; a quiet cycle is one line.
    assert "Open findings (" in first and "Dana Murphy" in first and "a gap is coming" in first
    assert "new: " in second  # someone cancelled a 1:1 between cycle 1 and 2
    assert "Open findings (" not in third and "No change in the findings" in third
    lines = first.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(" id "))
    table = lines[start : next(i for i, line in enumerate(lines) if line.startswith("Emails received"))]
    assert table and max(len(line) for line in table) <= 80
    assert "@" not in "".join(line for line in table)  # names, not addresses
    assert "T" not in "".join(re.findall(r"\d{4}-\d\d-\d\dT", text))  # no UTC ISO stamps anywhere
    # The summary once per cycle (not a log line beside it), the links after every cycle.
    assert text.count("synced 6/6 calendars") == 3
    assert " INFO " not in text and " INFO " in (tmp_path / "demo" / "oneonone.log").read_text()
    assert text.count("The org page: http") == 3 and text.count("A 1:1 page (") == 3
    # Booking is on in the demo: warnings carry free slots, and the closing note says what free/busy cost.
    assert re.search(r"Booking: \d+ warnings proposed free slots; free/busy cost [\d.]+ requests and \d+ ms", text)
    assert re.search(r"Try one \(sign in as \S+@example\.com\): Book \w{3} \d+ \w{3}, .*/book/", text)
    # The README's next step works as printed: the demo's own secrets are where its config reads them.
    config = tmp_path / "demo" / "config.yaml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert main(["--config", str(config), "findings", "--status", "open"]) == 0
    assert main(["--config", str(config), "findings", "explain", "1"]) == 0


def test_findings_filter_by_person_and_rule_and_explain_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(file=io.StringIO(), width=80)
    assert run_demo(tmp_path / "demo", cycles=1, interval=0, console=console) == 0
    config = str(tmp_path / "demo" / "config.yaml")
    capsys.readouterr()
    assert main(["--config", config, "findings", "--format", "json"]) == 0
    every = json.loads(capsys.readouterr().out)
    manager, rule = every[0]["manager"], "cadence-gap"
    assert main(["--config", config, "findings", "--format", "json", "--manager", manager.upper()]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert mine and {f["manager"] for f in mine} == {manager} and len(mine) < len(every)
    assert main(["--config", config, "findings", "--format", "json", "--rule", rule, "--status", "open"]) == 0
    gaps = json.loads(capsys.readouterr().out)
    assert gaps and {(f["rule"], f["status"]) for f in gaps} == {(rule, "open")}
    assert main(["--config", config, "findings", "explain", str(every[-1]["id"])]) == 0
    explained = " ".join(capsys.readouterr().out.split())
    assert " ".join(every[-1]["message"].split()) in explained and "Why:" in explained
    assert main(["--config", config, "findings", "explain", "9999"]) == 1
    assert "no finding has id 9999" in capsys.readouterr().err

    # The ICS manager's links can never be written: no intent is recorded for them, so nothing says "intended".
    assert main(["--config", config, "agenda", "status"]) == 0
    status = capsys.readouterr().out
    assert "ximena.larsen" in status and "intended" not in status and "ics " not in status

    # Acknowledged: recorded with who and why, no longer "needs attention" in the report.
    target = next(f for f in every if f["status"] == "open" and not f["digest_only"])
    pair = [target["manager"], target["report"]]
    assert main(["--config", config, "findings", "ack", str(target["id"])]) == 2  # a reason is required
    assert "--reason" in capsys.readouterr().err
    assert main(["--config", config, "findings", "ack", str(target["id"]), "--reason", "on leave", "--by", "ravi"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "findings", "--format", "json", "--manager", pair[0]]) == 0
    (acked,) = [f for f in json.loads(capsys.readouterr().out) if f["id"] == target["id"]]
    assert (acked["acknowledged_by"], acked["ack_reason"]) == ("ravi", "on leave") and acked["acknowledged_at"]
    assert main(["--config", config, "report", "--format", "json", "--manager", pair[0]]) == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["report"] == pair[1]]
    assert (
        row["open_findings"].get(target["rule"], 0)
        == sum(
            1
            for f in every
            if f["status"] == "open" and f["rule"] == target["rule"] and [f["manager"], f["report"]] == pair
        )
        - 1
    )


def test_make_demo_runs_from_the_repository_with_its_relative_demo_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make demo` runs `oneonone demo` in the checkout: the folder is `.demo`, relative. Every file the written
    # config names must still be found, since the config's own relative paths are read from its folder.
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert run_demo(Path(".demo"), cycles=1, interval=0, console=Console(file=out, width=80)) == 0, out.getvalue()
    assert "configuration error" not in out.getvalue()
    assert main(["--config", ".demo/config.yaml", "check-config"]) == 0
