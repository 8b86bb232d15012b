"""Google-shaped API errors for the Calendar emulator.

Every error body carries `errors[]`: googleapiclient's retry logic and the daemon's classifier
both read `errors[0].reason`, so a body without it would hide classification bugs. Bodies and
messages follow Google's "Handle API errors" guide.
"""

from __future__ import annotations

from typing import Any

from emulators.http import Reply

# reason -> (domain, default message); messages as documented by Google where documented.
KNOWN_REASONS: dict[str, tuple[str, str]] = {
    "badRequest": ("global", "Bad Request"),
    "invalid": ("global", "Invalid Value"),
    "required": ("global", "Required"),
    "parseError": ("global", "Parse Error"),
    "timeRangeEmpty": ("calendar", "The specified time range is empty."),
    "authError": ("global", "Invalid Credentials"),
    "insufficientPermissions": ("global", "Insufficient Permission"),
    "rateLimitExceeded": ("usageLimits", "Rate Limit Exceeded"),
    "userRateLimitExceeded": ("usageLimits", "User Rate Limit Exceeded"),
    "quotaExceeded": ("usageLimits", "Calendar usage limits exceeded."),
    "dailyLimitExceeded": ("usageLimits", "Daily Limit Exceeded"),
    "forbiddenForNonOrganizer": (
        "calendar",
        "Shared properties can only be changed by the organizer of the event.",
    ),
    "forbidden": ("global", "Forbidden"),
    "notFound": ("global", "Not Found"),
    "duplicate": ("global", "The requested identifier already exists."),
    "fullSyncRequired": ("calendar", "Sync token is no longer valid, a full sync is required."),
    "deleted": ("global", "Resource has been deleted"),
    "conditionNotMet": ("global", "Precondition Failed"),
    "backendError": ("global", "Backend Error"),
    "methodNotAllowed": ("global", "Method Not Allowed"),
}

_LOCATIONS: dict[str, tuple[str, str]] = {
    "authError": ("header", "Authorization"),
    "conditionNotMet": ("header", "If-Match"),
    "fullSyncRequired": ("parameter", "syncToken"),
    "timeRangeEmpty": ("parameter", "timeMax"),
}


class GoogleApiError(Exception):
    """An error the emulated API answers with; raised by state code, turned into a reply at the edge."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str | None = None,
        *,
        location: str | None = None,
        location_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        domain, default = KNOWN_REASONS.get(reason, ("global", reason))
        self.status = status
        self.reason = reason
        self.domain = domain
        self.message = message or default
        loc_type, loc = _LOCATIONS.get(reason, (None, None))
        self.location = location or loc
        self.location_type = location_type or loc_type
        self.headers = headers or {}
        super().__init__(f"{status} {reason}: {self.message}")

    def body(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location:
            detail["locationType"] = self.location_type or "parameter"
            detail["location"] = self.location
        return {"error": {"code": self.status, "message": self.message, "errors": [detail]}}

    def reply(self) -> Reply:
        return Reply.json(self.status, self.body(), self.headers)


def bad_request(message: str, *, reason: str = "invalid", location: str | None = None) -> GoogleApiError:
    return GoogleApiError(400, reason, message, location=location, location_type="parameter")


def not_found() -> GoogleApiError:
    return GoogleApiError(404, "notFound")


def error_reply(status: int, reason: str, message: str | None = None, *, retry_after: float | None = None) -> Reply:
    """A ready-made Google error reply, e.g. for fault injection."""
    headers = {"Retry-After": _fmt_seconds(retry_after)} if retry_after is not None else None
    return GoogleApiError(status, reason, message, headers=headers).reply()


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
