"""`oneonone directory sync|show` and the file sources (CSV and YAML), through the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from directory_fixtures import ADMIN, CLIENT_ID, MARIA, ORG, PIA, RAJ, SAM, SECRET, SECRET_ENV, TOM, directory_config

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.smtp import MailSink
from sync.cli import main
from sync.store.db import Database
from sync.store.models import DirectoryPersonRow, FindingRow

EXAMPLE = "example.com"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # rich folds table cells to the terminal width


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    config.chmod(0o600)
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def show_json(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    code, out, _ = run(config, capsys, "directory", "show", "--format", "json", *extra)
    assert code == 0
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_csv_file_source_sync_show_and_a_removed_pair(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    team = tmp_path / "team.csv"
    team.write_text(f"manager,report,start_date\n{MARIA},{RAJ},2026-01-05\n{MARIA},{SAM}\n", encoding="utf-8")
    config = write_config(tmp_path, {"database_url": database_url, "directory": {"file": "team.csv"}})
    code, out, _ = run(config, capsys, "directory", "sync")
    assert code == 0 and "directory synced from file: 2 pairs in force" in out
    rows = show_json(config, capsys)
    assert [(r["manager"], r["report"], r["source"], r["start"], r["status"]) for r in rows] == [
        (MARIA, RAJ, "file", "2026-01-05", "in force"),
        (MARIA, SAM, "file", None, "in force"),  # first import: no start date means "unknown", not today
    ]
    code, out, _ = run(config, capsys, "directory", "show")
    assert code == 0 and "Directory pairs in force" in out and "source file: last synced" in out
    assert RAJ in out and "2026-01-05" in out

    db = Database(database_url)
    with db.session() as session:  # an open warning about Sam, who is about to leave the file
        now = datetime.now(UTC)
        session.add(
            FindingRow(
                rule="cadence-gap", manager=MARIA, report=SAM, key="never", status="open", message="m",
                explanation="e", details={}, digest_only=False, first_seen=now, last_seen=now,
            )
        )  # fmt: skip
    team.write_text(f"manager,report,start_date\n{MARIA},{RAJ},2026-01-05\n{PIA},{TOM}\n", encoding="utf-8")
    code, _, _ = run(config, capsys, "sync", "--once")  # a local file is re-read on every run
    assert code == 0
    rows = show_json(config, capsys, "--all")
    by_pair = {(r["manager"], r["report"]): r for r in rows}
    assert by_pair[(MARIA, SAM)]["status"] == "ended" and by_pair[(MARIA, SAM)]["end_reason"] == "removed"
    assert by_pair[(PIA, TOM)]["start"] == datetime.now(UTC).date().isoformat()  # a new pair starts today
    assert {(r["manager"], r["report"]) for r in show_json(config, capsys)} == {(MARIA, RAJ), (PIA, TOM)}
    code, out, _ = run(config, capsys, "findings", "--status", "ended", "--format", "json")
    assert code == 0 and [(f["report"], f["status"]) for f in json.loads(out)] == [(SAM, "ended")]
    db.dispose()


def test_yaml_file_source_with_departments_leavers_and_scope(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "team.yaml").write_text(
        yaml.safe_dump(
            {
                "pairs": [
                    {"manager": MARIA, "report": RAJ, "start": "2026-01-05"},
                    {"manager": MARIA, "report": SAM},
                    {"manager": PIA, "report": TOM},
                ],
                "people": {MARIA: {"department": "Engineering"}, PIA: {"department": "Sales"}, SAM: {"active": False}},
            }
        ),
        encoding="utf-8",
    )
    data = {
        "database_url": database_url,
        "directory": {"source": "file", "file": "team.yaml", "include": [{"department": "engineering"}]},
    }
    config = write_config(tmp_path, data)
    assert run(config, capsys, "check-config")[0] == 0
    assert run(config, capsys, "directory", "sync")[0] == 0
    assert [(r["manager"], r["report"], r["start"]) for r in show_json(config, capsys)] == [(MARIA, RAJ, "2026-01-05")]
    db = Database(database_url)
    with db.session() as session:
        sam = session.query(DirectoryPersonRow).filter_by(address=SAM).one()
        assert not sam.active  # marked as gone in the file: never emailed
    db.dispose()


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("team.csv", f"{MARIA};{RAJ}\n", "line 1: expected manager,report"),
        ("team.yaml", "pairs: [{manager: maria@acme.test}]\n", "pair 1: report: Field required"),
        ("team.yaml", "pairs: [{manager: x, report: raj@acme.test}]\n", "pair 1: manager: Value error, 'x' is not"),
        ("team.yaml", "teams: []\n", "expected the keys pairs and people"),
    ],
)
def test_a_broken_file_fails_the_sync_by_name_and_the_last_good_directory_stays(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str], name: str, text: str, problem: str
) -> None:
    team = tmp_path / name
    good = f"{MARIA},{RAJ}\n" if name.endswith(".csv") else yaml.safe_dump([{"manager": MARIA, "report": RAJ}])
    team.write_text(good, encoding="utf-8")
    config = write_config(tmp_path, {"database_url": database_url, "directory": {"file": name}})
    assert run(config, capsys, "directory", "sync")[0] == 0
    team.write_text(text, encoding="utf-8")
    code, _, err = run(config, capsys, "directory", "sync")
    assert code == 1
    assert "directory sync failed (the last good directory stays in force)" in err and problem in err
    assert [(r["manager"], r["report"]) for r in show_json(config, capsys)] == [(MARIA, RAJ)]
    code, out, _ = run(config, capsys, "directory", "show")
    assert "last error" in out and problem in " ".join(out.split())


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_sync_and_show_against_the_emulators_build_the_source_from_the_config(
    kind: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with MailSink() as sink, GoogleCalendarEmulator() as google:
        graph = GraphEmulator(ca_dir=tmp_path / "ca") if kind == "entra" else None
        if graph is not None:
            graph.start()
            graph.add_app(CLIENT_ID, SECRET)
            monkeypatch.setenv(SECRET_ENV, SECRET)
        try:
            target: Any = graph if graph is not None else google.directory
            for person, manager, department in ORG:
                target.add_user(person, person.split("@")[0], manager=manager, department=department)
                google.add_calendar(person, "UTC")
            google.directory.add_user(ADMIN, "It Admin", admin=True)
            key = tmp_path / "key.json"
            key.write_text(json.dumps(google.service_account_info()), encoding="utf-8")
            config = write_config(tmp_path, directory_config(kind, google, graph, key, sink, database_url))
            assert run(config, capsys, "check-config")[0] == 0
            code, out, _ = run(config, capsys, "directory", "sync")
            assert code == 0 and "5 pairs in force" in out
            rows = show_json(config, capsys)
            assert {r["source"] for r in rows} == {kind} and (MARIA, RAJ) in {(r["manager"], r["report"]) for r in rows}
            if graph is not None:
                graph.add_app(CLIENT_ID, SECRET, roles=("Calendars.ReadWrite",))  # consent for User.Read.All revoked
            else:
                google.directory.suspend(ADMIN)
            code, _, err = run(config, capsys, "directory", "sync")
            assert code == 1 and f"directory source {kind}:" in err
            assert len(show_json(config, capsys)) == 5
        finally:
            if graph is not None:
                graph.stop()
