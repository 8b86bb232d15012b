"""`oneonone demo`: the whole daemon on an embedded default, nothing to configure.

Starts the Google Calendar and Microsoft Graph emulators seeded with a realistic mixed org (every
third manager on Outlook, the others on Google), a local SMTP server that keeps what it receives
as .eml files, and the daemon itself against a SQLite file, then runs cycles and shows what it
found. Everything lives under one folder (default `.demo/`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.graph_identity import DEFAULT_ROLES
from emulators.ics_feed import IcsFeedServer
from emulators.org import STORIES, OrgPlan, google_instance_id, plan_org, plan_to_ics, seed_google
from emulators.org_calls import NO_SHOW, CallPlan, plan_calls, seed_meet, seed_teams
from emulators.org_graph import seed_graph
from emulators.slack import SlackEmulator
from emulators.smtp import MailSink
from sync.actions.digest import digest_job
from sync.actions.findings import finding_rows
from sync.agenda.admin import status
from sync.booking.page import booking_blueprints
from sync.cli.demo_output import Shown, log_to_file, print_booking, print_findings
from sync.config import WEEKDAYS, load_settings
from sync.cycle import run_cycle
from sync.cycle_summary import print_cycle
from sync.notify.render import display_name
from sync.notify.slack_requests import configured_blueprint as slack_blueprint
from sync.runtime import Runtime, build_runtime
from sync.store.models import OutboxRow
from sync.views.orgpage import org_blueprint, org_deps
from sync.web import WebServer, agenda_deps, create_app

DEMO_APP = "oneonone-demo"
# The demo's random secrets, in files beside the config that reads them: every command works on it as printed.
GRAPH_SECRET_FILE = "graph-client-secret"
SLACK_TOKEN_FILE, SLACK_SECRET_FILE = "slack-bot-token", "slack-signing-secret"


def outlook_managers(plan: OrgPlan) -> list[str]:
    """Every third manager keeps their calendar in Outlook: the demo org is mixed."""
    return plan.managers[2::3]


def ics_managers(plan: OrgPlan) -> list[str]:
    """One more manager publishes their calendar only as an ICS feed (read-only)."""
    return [m for m in plan.managers if m not in outlook_managers(plan)][-1:]


def _start_feeds(plan: OrgPlan) -> tuple[IcsFeedServer, list[dict[str, str]]]:
    feeds = IcsFeedServer()
    feeds.start()
    config = []
    for manager in ics_managers(plan):
        path = f"calendars/{manager.split('@')[0]}/basic.ics"
        feeds.publish(path, plan_to_ics(plan, manager))
        config.append({"owner": manager, "url": feeds.url(path), "name": f"{manager} (published feed)"})
    return feeds, config


def _outlook_config(graph: GraphEmulator, mailboxes: list[str], folder: Path) -> dict[str, Any]:
    return {
        "tenant_id": graph.tenant_id,
        "client_id": DEMO_APP,
        "client_secret_file": str((folder / GRAPH_SECRET_FILE).resolve()),
        "mailboxes": mailboxes,
        "authority": graph.base_url,
        "graph_endpoint": graph.graph_endpoint,
        "ca_bundle": str(graph.ca_pem.resolve()),
    }


def _start_graph(folder: Path, plan: OrgPlan, calls: list[CallPlan]) -> GraphEmulator:
    """The Graph emulator with its own test CA, the demo app, and the Outlook managers' part of the org
    (with the Teams attendance of their `no-show` calls: the app may read it).

    Graph stamps answers with their time, so the plan is replayed on a clock from before its changes.
    """
    clock: list[datetime | None] = [plan.now - timedelta(weeks=11)]
    graph = GraphEmulator(clock=lambda: clock[0] or datetime.now(UTC), ca_dir=folder / "graph-ca")
    graph.start()
    secret = os.urandom(12).hex()
    secret_file = folder / GRAPH_SECRET_FILE
    secret_file.write_text(secret, encoding="utf-8")
    secret_file.chmod(0o600)
    graph.add_app(DEMO_APP, secret, roles=(*DEFAULT_ROLES, "OnlineMeetings.Read.All", "OnlineMeetingArtifact.Read.All"))
    seed_graph(graph, plan, managers=outlook_managers(plan))
    seed_teams(graph, [c for c in calls if c.series.organizer in outlook_managers(plan)])
    clock[0] = None
    return graph


def slack_managers(plan: OrgPlan) -> list[str]:
    """Every manager but the first reads warnings in Slack; the first has no Slack account: email instead."""
    return plan.managers[1:]


def _start_slack(folder: Path, plan: OrgPlan) -> SlackEmulator:
    """The Slack emulator, writing every message it is sent into `slack/`, with the Slack managers' accounts."""
    slack = SlackEmulator(token=f"xoxb-demo-{secrets.token_hex(8)}", directory=folder / "slack")
    slack.start()
    for name, value in ((SLACK_TOKEN_FILE, slack.token), (SLACK_SECRET_FILE, secrets.token_hex(16))):
        (folder / name).write_text(value, encoding="utf-8")
        (folder / name).chmod(0o600)
    for manager in slack_managers(plan):
        slack.add_user(manager)
    return slack


def _slack_config(slack: SlackEmulator) -> dict[str, Any]:
    return {"bot_token_file": SLACK_TOKEN_FILE, "signing_secret_file": SLACK_SECRET_FILE, "api_url": slack.api_url}


def demo_config(
    folder: Path,
    emulator: GoogleCalendarEmulator,
    smtp_port: int,
    plan: OrgPlan,
    graph: GraphEmulator | None = None,
    ics_feeds: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    key_file = folder / "google-service-account.json"
    key_file.write_text(json.dumps(emulator.service_account_info(), indent=2), encoding="utf-8")
    key_file.chmod(0o600)
    first_start = {(s.organizer, s.attendee): s.first_start.date().isoformat() for s in plan.series}
    return {
        "database_url": f"sqlite:///{(folder / 'oneonone.db').resolve()}",
        "poll_interval_seconds": 30,
        "time_zone": "UTC",
        "google": {
            "api_endpoint": emulator.api_endpoint,
            "service_account_file": str(key_file.resolve()),
            "meet_endpoint": emulator.base_url + "/",  # who joined the Meet calls (rules.attendance: prefer)
            "calendars": [
                m
                for m in plan.managers
                if (graph is None or m not in outlook_managers(plan)) and m not in [f["owner"] for f in ics_feeds or []]
            ],
        },
        **({"ics": {"feeds": ics_feeds}} if ics_feeds else {}),
        **({"outlook": _outlook_config(graph, outlook_managers(plan), folder)} if graph is not None else {}),
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "from": "oneonone@example.com"},
        "notify": {"mode": "send"},
        "rules": {"attendance": "prefer"},  # held from evidence: the `no-show` story's call is read
        "directory": {
            "domains": [plan.domain],
            "pairs": [{"manager": m, "report": r, "start": first_start.get((m, r))} for m, r in plan.pairs()],
        },
    }


def _live_change(emulator: GoogleCalendarEmulator, plan: OrgPlan, now: datetime) -> str | None:
    """Between cycles, someone cancels next week's 1:1 — the daemon should notice incrementally."""
    for series in plan.series:
        if plan.stories.get((series.organizer, series.attendee)) != "healthy-weekly":
            continue
        if series.organizer in outlook_managers(plan) or series.organizer in ics_managers(plan):
            continue  # on the Graph emulator, or a feed
        slot = series.first_start
        while slot.astimezone(UTC) < now + timedelta(days=2):
            slot = (slot.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=slot.tzinfo)
        emulator.delete_event(series.organizer, google_instance_id(series.key, slot))
        return f"{series.organizer} cancelled the 1:1 with {series.attendee} on {slot:%a %d %b %H:%M}"
    return None


def _print_links(runtime: Runtime, console: Console, folder: Path, org_url: str) -> None:
    """Printed after every cycle, so they never scroll away: one pair's page, how to sign in, the org page."""
    pages = status(runtime)
    if pages:
        pair = pages[0]
        console.print(f"A 1:1 page ({pair.manager} and {pair.report}): {pair.url}", soft_wrap=True)
        console.print(f"  Sign in as {pair.report}: the sign-in email lands in {folder / 'mail'}", soft_wrap=True)
    console.print(f"The org page: {org_url}", soft_wrap=True)


def _no_show_note(runtime: Runtime, console: Console, folder: Path) -> None:
    """The closing note: the 1:1s that stayed on the calendar but one of the two never joined, and their warning
    (an email in `mail/`, or a Slack DM in `slack/` for the managers on Slack)."""
    with runtime.db.session() as session:
        rows = [r for r in finding_rows(session, status="open") if r.rule == "held-without-both"]
        sent = {r.id: session.get(OutboxRow, r.outbox_id) if r.outbox_id else None for r in rows}
        how = {key: (row.channel, row.subject) if row is not None else None for key, row in sent.items()}
    for finding in rows:
        name = display_name(finding.report)
        if how[finding.id] is None:
            where = "not sent yet (its grace has not passed)"
        elif how[finding.id][0] == "slack":  # type: ignore[index]
            dms = [p for p in sorted((folder / "slack").glob(f"*-{finding.manager}.json")) if name in _text(p)]
            where = f"sent to {finding.manager} in Slack ({', '.join(str(p) for p in dms) or 'queued'})"
        else:
            subject = how[finding.id][1]  # type: ignore[index]
            mails = [p for p in sorted((folder / "mail").glob("*.eml")) if subject in _text(p)]
            where = f"emailed to {finding.manager} ({', '.join(str(p) for p in mails) or 'queued'})"
        console.print(
            f"[bold]No-show:[/bold] {finding.message.replace(finding.report, name)} — {where}", soft_wrap=True
        )


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def run_demo(folder: Path, *, cycles: int, interval: float, console: Console) -> int:
    for stale in ("oneonone.db", "oneonone.db-wal", "oneonone.db-shm", "mail", "slack"):
        target = folder / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    log_file = log_to_file(folder)
    os.environ.pop("REQUESTS_CA_BUNDLE", None)
    now = datetime.now(UTC)
    plan = plan_org(now, stories=(*STORIES, NO_SHOW))
    calls = plan_calls(plan)  # the no-show story: who joined its calls (moves its last slot into the plan)
    emulator = GoogleCalendarEmulator()
    sink = MailSink(folder / "mail")
    stop = threading.Event()
    emulator.start()
    graph: GraphEmulator | None = None
    feeds: IcsFeedServer | None = None
    slack: SlackEmulator | None = None
    web = WebServer("127.0.0.1:0")  # the agenda pages; bound first so the links carry its URL
    try:
        seed_google(emulator, plan.only(m for m in plan.managers if m not in outlook_managers(plan)))
        on_google = [m for m in plan.managers if m not in outlook_managers(plan) and m not in ics_managers(plan)]
        seed_meet(emulator, plan, [c for c in calls if c.series.organizer in on_google])
        feeds, ics_feeds = _start_feeds(plan)
        graph = _start_graph(folder, plan, calls)
        _, smtp_port = sink.start()
        config = demo_config(folder, emulator, smtp_port, plan, graph, ics_feeds)
        config["web"] = {"bind": f"127.0.0.1:{web.port}", "base_url": web.url}
        slack = _start_slack(folder, plan)
        config["slack"] = _slack_config(slack)
        # Warnings in Slack; quiet hours off, or a demo run in the evening would show no DM until the morning.
        config["notify"] = {**config["notify"], "channels": {"warning": "slack"}, "quiet_hours": "off"}
        token_file = folder / "org-token"  # the org page's admin token, and today's digest in every zone it is today
        token_file.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        config["org_page"] = {"admin_token_file": str(token_file.resolve())}
        config["digest"] = {"weekday": WEEKDAYS[now.weekday()], "hour": 0}
        config["booking"] = {"enabled": True}  # proposed slots in warnings, booked from the page (README, "Booking")
        config_file = folder / "config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        config_file.chmod(0o600)  # it names the demo's secret files
        settings = load_settings(config_file)
        runtime = build_runtime(settings)
        org = org_deps(settings, runtime.db, runtime.clock)
        blueprints = [org_blueprint(org)] if org else []
        slack_requests = slack_blueprint(settings, runtime.clock)
        blueprints += [slack_requests] if slack_requests else []
        deps = agenda_deps(runtime)
        blueprints += booking_blueprints(runtime, deps)
        web.mount(create_app(deps, blueprints=blueprints)).start()
        stories = Counter(plan.stories.values())
        console.rule("[bold]oneonone demo")
        console.print(
            f"Org: {len(plan.managers)} managers, {sum(len(r) for r in plan.reports.values())} reports, "
            f"{len(plan.series)} 1:1 series; stories: {', '.join(f'{k} x{v}' for k, v in sorted(stories.items()))}"
        )
        console.print(f"Google Calendar emulator: {emulator.api_endpoint}")
        console.print(
            f"Microsoft Graph emulator: {graph.graph_endpoint} (Outlook managers: {', '.join(outlook_managers(plan))})"
        )
        console.print(
            f"ICS feed server: {', '.join(f['url'] for f in ics_feeds)} (read-only: {', '.join(ics_managers(plan))})"
        )
        console.print(f"SMTP server: 127.0.0.1:{smtp_port}; emails are saved in [bold]{folder / 'mail'}[/bold]")
        console.print(
            f"Slack emulator: {slack.api_url}; warnings go to Slack DMs, saved in [bold]{folder / 'slack'}[/bold] "
            f"(request URL {web.url}/slack/interactions; {plan.managers[0]} has no Slack account: email instead)"
        )
        console.print(
            f"Config written to {folder / 'config.yaml'} (try: oneonone --config {folder / 'config.yaml'} findings)"
        )
        console.print(f"The daemon's log: {folder / 'oneonone.log'}")
        cycle = 0
        shown = Shown()
        freebusy: list[tuple[int, float]] = []
        while not stop.is_set():
            cycle += 1
            console.rule(f"cycle {cycle}")
            report = run_cycle(runtime)
            freebusy += report.freebusy
            print_cycle(report, console)
            if cycle == 1:
                digests = digest_job(runtime)()
                console.print(f"Weekly digests sent: {digests}")
            print_findings(runtime, console, shown)
            console.print(f"Emails received so far: {len(sink.messages)}, in {folder / 'mail'}")
            console.print(f"Slack messages posted so far: {len(slack.messages())}, in {folder / 'slack'}")
            _print_links(runtime, console, folder, f"{web.url}/org?token={token_file.read_text(encoding='utf-8')}")
            if cycles and cycle >= cycles:
                print_booking(runtime, console, freebusy)
                break
            if cycle == 1:
                change = _live_change(emulator, plan, runtime.clock())
                if change:
                    console.print(f"[yellow]Meanwhile:[/yellow] {change}")
            console.print(f"Next cycle in {interval:.0f}s (Ctrl-C to stop)")
            stop.wait(interval)
        _no_show_note(runtime, console, folder)
    except KeyboardInterrupt:
        console.print("\nStopping.")
    finally:
        logging.getLogger().removeHandler(log_file)
        log_file.close()
        web.stop()
        sink.stop()
        emulator.stop()
        if graph is not None:
            graph.stop()
        if feeds is not None:
            feeds.stop()
        if slack is not None:
            slack.stop()
    return 0
