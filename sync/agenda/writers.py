"""Which providers can write the agenda link, and their writers (built from the providers in use)."""

from __future__ import annotations

from collections.abc import Iterable

from providers.base import AgendaWriter, Provider
from providers.caldav import CalDavProvider
from providers.caldav_writeback import CalDavAgendaWriter
from providers.google import GoogleCalendarProvider
from providers.google_writeback import GoogleAgendaWriter
from providers.outlook import OutlookProvider
from providers.outlook_writeback import GraphAgendaWriter


def agenda_writers(providers: Iterable[Provider]) -> dict[str, AgendaWriter]:
    writers: dict[str, AgendaWriter] = {}
    for provider in providers:
        if isinstance(provider, GoogleCalendarProvider):
            writers[provider.name] = GoogleAgendaWriter(provider)
        elif isinstance(provider, OutlookProvider):
            writers[provider.name] = GraphAgendaWriter(provider.client)
        elif isinstance(provider, CalDavProvider):  # ICS feeds are read-only: no writer
            writers[provider.name] = CalDavAgendaWriter(provider)
    return writers
