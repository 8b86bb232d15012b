"""One truth on every surface: the figures of the demo org agree across the report (JSON), the findings
(JSON), the digest (parsed from the email as received) and the org page (parsed from its HTML) — the
same held / moved / replaced / cancelled counts, the same days since the last 1:1, and "too long"
exactly where the `cadence-gap` rule broke."""

from __future__ import annotations

import email
import io
import json
import re
from email import policy
from pathlib import Path

import pytest
from pydantic import SecretStr
from rich.console import Console

from sync.cli import main
from sync.cli.demo import run_demo
from sync.config import load_settings
from sync.runtime import utc_now
from sync.store.db import Database
from sync.views.orgpage import OrgDeps, org_blueprint
from sync.web import create_app

PAIR = re.compile(r"^(?P<name>[^\n<]+) <(?P<report>[^>]+)>(?: \(calendar data is stale\))?$", re.M)
GAP = re.compile(r"\| (?P<days>\d+) days? since the last one(?P<late> \(too long\))?")
COUNTS = re.compile(
    r"\d+ weeks: (?P<held>\d+) held, (?P<moved>\d+) moved, (?P<replaced>\d+) replaced, (?P<cancelled>\d+)"
)


ORG_TOKEN = "consistency-org-token-0123456789"
ORG_ROW = re.compile(
    r'<tr data-manager="(?P<manager>[^"]+)">.*?<td class="num reports"[^>]*>(?P<reports>\d+)</td>'
    r'.*?<td class="num gap(?P<late> late)?"[^>]*>(?P<gap>\d+|–)(?: days)?</td>',
    re.S,
)


def _org_rows(html: str) -> dict[str, dict[str, object]]:
    """Each manager's row as the org page shows it."""
    return {
        m["manager"]: {
            "reports": int(m["reports"]),
            "late": bool(m["late"]),
            "longest_gap": None if m["gap"] == "–" else int(m["gap"]),
        }
        for m in ORG_ROW.finditer(html)
    }


def _digests(folder: Path) -> dict[tuple[str, str], dict[str, object]]:
    """Each pair's figures as the digest emails say them (the text part, as a mail client gets it)."""
    found: dict[tuple[str, str], dict[str, object]] = {}
    for path in sorted(folder.glob("*.eml")):
        mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if not str(mail["Subject"]).startswith("Your 1:1s, week"):
            continue
        manager = str(mail["To"])
        text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        blocks = PAIR.split(text)[1:]
        for _name, report, body in zip(blocks[0::3], blocks[1::3], blocks[2::3], strict=True):
            gap, counts = GAP.search(body), COUNTS.search(body)
            assert counts is not None, body
            found[(manager, report)] = {
                "attention": "Needs your attention." in body,
                "subject": str(mail["Subject"]),
                "gap_days": int(gap["days"]) if gap else None,
                "too_long": bool(gap and gap["late"]),
                **{k: int(v) for k, v in counts.groupdict().items()},
            }
    return found


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(argv) == 0
    return list(json.loads(capsys.readouterr().out))


def test_every_surface_of_the_demo_org_tells_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "demo"
    assert run_demo(folder, cycles=1, interval=0, console=Console(file=io.StringIO(), width=80)) == 0
    config = str(folder / "config.yaml")
    report = {(r["manager"], r["report"]): r for r in _json(["--config", config, "report", "--format", "json"], capsys)}
    findings = _json(["--config", config, "findings", "--format", "json", "--status", "open"], capsys)
    digest = _digests(folder / "mail")
    # Every pair in force is in the report; the digest went to the managers whose digest day it is (4 of 6 here).
    assert len(report) == 30 and len(digest) >= 15 and set(digest) <= set(report)

    # The same counts and the same days since the last 1:1, pair by pair.
    for pair, said in digest.items():
        row = report[pair]
        assert [said[k] for k in ("held", "moved", "replaced", "cancelled")] == [
            row[k] for k in ("held", "moved", "replaced", "cancelled")
        ], pair
        assert said["gap_days"] == row["gap_days"], pair

    # "Too long" is exactly where the cadence-gap rule broke: in the report, in the digest's mark, and as a finding.
    broken = {(f["manager"], f["report"]) for f in findings if f["rule"] == "cadence-gap"}
    assert broken, "the demo org has gaps"
    assert {p for p, r in report.items() if r["gap_too_long"]} == broken
    assert {p for p, d in digest.items() if d["too_long"]} == broken & set(digest)
    for pair in broken:
        assert report[pair]["open_findings"].get("cadence-gap") == 1  # type: ignore[union-attr]

    # "Needs attention" is one set of pairs: open findings that are or will be emailed — the report's flag, the
    # findings' flag, the digest's badge and its subject's count; history never emailed is not in it.
    attention = {(f["manager"], f["report"]) for f in findings if f["needs_attention"]}
    assert attention, "the demo org has findings to act on"
    assert {p for p, r in report.items() if r["needs_attention"]} == attention
    assert {p for p, d in digest.items() if d["attention"]} == attention & set(digest)
    for manager in {m for m, _ in digest}:
        mine = [d for (m, _), d in digest.items() if m == manager]
        count = sum(1 for d in mine if d["attention"])
        subject = str(mine[0]["subject"])
        assert (f"{count} need" in subject) if count else ("need" not in subject), subject
    for f in findings:
        # "Emailed" in words: what needs attention was sent or is on its way; the rest never will be.
        assert f["email"] in (
            ("sent", "due", "queued")
            if f["needs_attention"]
            else ("not emailed", "digest only", "acknowledged", "sent, acknowledged")
        ), f
    quiet = [f for f in findings if not f["needs_attention"]]
    assert quiet, "the demo org has findings recorded but never emailed (its history, the digest-only ones)"

    # The org page as served (its HTML parsed): per manager, the same number of reports, the same longest gap,
    # and a late mark exactly where a report's gap is too long.
    settings = load_settings(Path(config))
    db = Database(settings.resolved_database_url())
    deps = OrgDeps(db, settings, utc_now, SecretStr(ORG_TOKEN), frozenset())
    with create_app(blueprints=[org_blueprint(deps)]).test_client() as client:
        page = client.get(f"/org?token={ORG_TOKEN}")
    db.dispose()
    assert page.status_code == 200
    rows = _org_rows(page.get_data(as_text=True))
    assert {m for m, _ in report} == set(rows)
    for manager, row in rows.items():
        mine = [p for p in report if p[0] == manager]
        assert row["reports"] == len(mine), manager
        assert row["late"] == any(p in broken for p in mine), manager
        assert row["longest_gap"] == max(report[p]["gap_days"] for p in mine), manager  # type: ignore[type-var]
