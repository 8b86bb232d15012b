"""`oneonone` command line. Exit codes: 0 ok, 1 a run-time failure, 2 a configuration error."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.actions.digest import CHECK_SECONDS, digest_job
from sync.cli.agenda import add_commands as add_agenda_commands
from sync.cli.connect import print_probes, probes
from sync.cli.directory import add_commands as add_directory_commands
from sync.cli.findings import add_findings_command
from sync.cli.report import add_command as add_report_command
from sync.cli.report import sync_with_progress, wants_progress
from sync.config import ConfigError, Settings, load_settings, permission_warnings
from sync.crash import CrashPlan
from sync.cycle import run_cycle
from sync.cycle_summary import print_cycle
from sync.daemon import AlreadyRunning, Daemon, sqlite_single_writer_lock
from sync.directory.calendars import follow_directory
from sync.directory.refresh import refresh_directory, refresh_due, refresh_job
from sync.directory.sources import config_directory
from sync.directory.store import directory_in_force
from sync.ingest.push import ensure_push, push_blueprint, push_secret
from sync.logs import configure_logging
from sync.notify.slack_requests import configured_blueprint as slack_blueprint
from sync.ops import ops_blueprint
from sync.runtime import build_runtime
from sync.store.db import PUSH_LOCK, Database, only_one_replica, printable_url
from sync.store.models import PairSeenRow, PauseRow
from sync.views.orgpage import org_blueprint, org_deps
from sync.web import serve as serve_web

log = logging.getLogger("oneonone")

DEFAULT_CONFIG = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "oneonone" / "config.yaml"


def _config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config)
    env = os.environ.get("ONEONONE_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def _load(args: argparse.Namespace) -> Settings:
    path = _config_path(args)
    for warning in permission_warnings(path):
        log.warning(warning)
    return load_settings(path)


def cmd_check_config(args: argparse.Namespace, console: Console) -> int:
    settings = _load_for_running(args)
    from sync.runtime import build_providers

    build_providers(settings)  # credentials files readable and well-formed
    settings.smtp.password()  # the secret's env var / file exists
    settings.agenda.oidc.client_secret()  # likewise for OIDC sign-in
    config_directory(settings)  # the directory file parses
    console.print(f"[green]ok[/green]: {_config_path(args)}")
    console.print(f"  database: {printable_url(settings.resolved_database_url())}")
    console.print(f"  google calendars: {len(settings.google.calendars)}")
    source = settings.directory.resolved_source
    console.print(f"  directory: source {source}, {len(config_directory(settings).pairs)} pairs in the config")
    console.print(
        f"  smtp: {settings.smtp.host}:{settings.smtp.port} ({settings.smtp.security}); mode {settings.notify.mode}"
    )
    if getattr(args, "connect", False):
        console.print("Trying each part once:")
        return 0 if print_probes(probes(settings), console) else 1
    return 0


def _load_for_running(args: argparse.Namespace) -> Settings:
    """The settings of a command that runs the daemon: every secret it names is read now, before the
    database is touched (a command that only reads the store, like `findings`, needs none of them)."""
    settings = _load(args)
    settings.read_secrets()
    return settings


def cmd_sync(args: argparse.Namespace, console: Console) -> int:
    runtime = build_runtime(_load_for_running(args), crash=CrashPlan.from_env(os.environ.get("ONEONONE_CRASH_AT")))
    dry_run = bool(getattr(args, "dry_run", False))
    if not dry_run and refresh_due(runtime.db, runtime.settings, runtime.clock()):  # a failure keeps the last good
        refresh_directory(runtime.db, runtime.settings, runtime.clock())
        follow_directory(runtime.db, runtime.providers)
    if not dry_run and wants_progress(runtime, console):
        report = sync_with_progress(runtime, console)  # the first full sync of many calendars: show how far
    else:
        report = run_cycle(runtime, dry_run=dry_run)
    print_cycle(report, console)
    if dry_run:
        console.print(
            f"Dry run: the calendars were read, nothing else was kept or sent. It would have sent "
            f"{len(report.would_send)} message{'s' if len(report.would_send) != 1 else ''}:"
        )
        for kind, recipient, subject, channel in report.would_send:
            console.print(f"  {kind} to {recipient} ({channel}): {subject}", markup=False, soft_wrap=True)
    return 1 if report.calendars and not any(c.ok for c in report.calendars) else 0


def _sync_or_run(args: argparse.Namespace, console: Console) -> int:
    if args.dry_run and not args.once:
        sys.stderr.write("--dry-run needs --once: a dry run is one cycle (oneonone sync --once --dry-run)\n")
        return 2
    return cmd_sync(args, console) if args.once else cmd_run(args, console)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    settings = _load_for_running(args)
    try:
        lock = sqlite_single_writer_lock(settings.resolved_database_url())
    except AlreadyRunning as exc:
        sys.stderr.write(f"oneonone: {exc}\n")
        return 1
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        log.warning("running as root: run oneonone as its own unprivileged user (see deploy/oneonone.service)")
    runtime = build_runtime(settings, crash=CrashPlan.from_env(os.environ.get("ONEONONE_CRASH_AT")))
    daemon = Daemon(runtime, on_cycle=lambda report: print_cycle(report, console))
    daemon.install_signal_handlers()
    secret = push_secret(runtime.db, runtime.clock())
    blueprints = [push_blueprint(runtime.db, secret, runtime.clock, daemon.wake)]
    if runtime.metrics is not None:
        metrics_token = settings.web.metrics_token()
        token = metrics_token.get_secret_value() if metrics_token is not None else None
        blueprints.append(ops_blueprint(daemon, runtime.metrics, token))
    org = org_deps(settings, runtime.db, runtime.clock)
    if org is not None:  # /org: per-manager aggregates for whoever coaches managers
        blueprints.append(org_blueprint(org))
    slack = slack_blueprint(settings, runtime.clock)
    if slack is not None:  # /slack/interactions: Slack's request URL for the buttons of our DMs
        blueprints.append(slack)
    # Queues each manager's weekly digest when due: checked at start too, so a daemon restarted more often
    # than CHECK_SECONDS still sends it.
    daemon.before_first_cycle.append(digest_job(runtime))
    daemon.jobs.append((CHECK_SECONDS, digest_job(runtime)))
    # Who reports to whom: refreshed on start, then checked hourly (due every directory.refresh_hours).
    follow = lambda: follow_directory(runtime.db, runtime.providers)  # noqa: E731
    daemon.before_first_cycle.append(refresh_job(runtime.db, settings, runtime.clock, when_due=False, after=follow))
    daemon.jobs.append((3600, refresh_job(runtime.db, settings, runtime.clock, after=follow)))
    # The agenda pages, /healthz, /readyz, /metrics and the push webhooks, on web.bind.
    web = serve_web(runtime, blueprints=blueprints)
    public_url = settings.web.public_url
    if public_url and web is not None:

        def renew_push() -> None:
            with only_one_replica(runtime.db, PUSH_LOCK) as mine:
                if mine:  # one replica keeps the channels; the others would open duplicates
                    ensure_push(runtime.providers, runtime.db, public_url, secret, runtime.clock())

        daemon.jobs.append((300, renew_push))
        daemon.before_first_cycle.append(renew_push)
    try:
        return daemon.run()
    finally:
        if web is not None:
            web.stop()
        runtime.db.dispose()
        if lock is not None:
            lock.close()


def _day(text: str) -> date:
    """A day as people write it in ISO form (2026-12-24); anything else is a clear argparse error."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-12-24") from None


def known_pairs(session: Session, settings: Settings) -> set[tuple[str, str]]:
    """Every pair oneonone knows: the directory in force and every pair it has seen meet."""
    pairs = {p.key for p in directory_in_force(session, settings).pairs}
    pairs |= {(row.manager, row.report) for row in session.scalars(select(PairSeenRow))}
    return pairs


def cmd_pause(args: argparse.Namespace, console: Console) -> int:
    settings = _load(args)
    db = Database(settings.resolved_database_url())
    db.migrate()
    manager, report = args.manager.strip().lower(), args.report.strip().lower()
    with db.session() as session:
        known = known_pairs(session, settings)
        if (manager, report) not in known:
            theirs = sorted(f"{m} / {r}" for m, r in known if manager in (m, r) or report in (m, r))
            hint = (
                f" Known pairs with them: {', '.join(theirs)}." if theirs else " Check the spelling of both addresses."
            )
            sys.stderr.write(f"oneonone: no 1:1 pair {manager} / {report} is known (manager first).{hint}\n")
            return 1
        row = session.query(PauseRow).filter_by(manager=manager, report=report).one_or_none()
        if args.until is None:
            if row is not None:
                session.delete(row)
            console.print(f"resumed {manager} / {report}")
            return 0
        if row is None:
            row = PauseRow(manager=manager, report=report)
            session.add(row)
        row.since, row.until = date.today(), args.until
    console.print(f"paused {manager} / {report} until {args.until.isoformat()}")
    return 0


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from sync.cli.demo import run_demo

    return run_demo(Path(args.dir), cycles=args.cycles, interval=args.interval, console=console)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oneonone", description="Keep managers' 1:1 meetings healthy.")
    p.add_argument("--config", help=f"config file (default: $ONEONONE_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    cc = sub.add_parser("check-config", help="validate the configuration and credentials files")
    cc.add_argument(
        "--connect", action="store_true", help="also try the database, SMTP, each calendar source and Slack once"
    )
    cc.set_defaults(func=cmd_check_config)
    s = sub.add_parser("sync", help="sync, evaluate and notify")
    s.add_argument("--once", action="store_true", help="one full cycle, then exit")
    s.add_argument(
        "--dry-run", action="store_true", help="with --once: read and judge, then keep nothing and send nothing"
    )
    s.set_defaults(func=_sync_or_run)
    sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT").set_defaults(func=cmd_run)
    add_findings_command(sub, _load)
    pa = sub.add_parser("pause", help="pause a pair (e.g. parental leave); omit --until to resume")
    pa.add_argument("manager")
    pa.add_argument("report")
    pa.add_argument("--until", type=_day, default=None, help="the last paused day, e.g. 2026-12-24")
    pa.set_defaults(func=cmd_pause)
    d = sub.add_parser("demo", help="run everything locally against the emulators")
    d.add_argument("--cycles", type=int, default=0, help="run N cycles then exit (default: until Ctrl-C)")
    d.add_argument("--dir", default=".demo", help="where the demo keeps its database and mail")
    d.add_argument("--interval", type=float, default=10.0, help="seconds between demo cycles")
    d.set_defaults(func=cmd_demo)
    add_agenda_commands(sub, _load)
    add_directory_commands(sub, _load)
    add_report_command(sub, _load)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    console = Console(stderr=False)
    try:
        code: int = args.func(args, console)
        return code
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 0
