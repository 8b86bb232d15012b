"""One retry policy for every adapter: honour Retry-After, else exponential backoff with jitter.

Only idempotent calls go through here. The sleeper and the random source are injected so tests
assert the waits that were requested instead of waiting.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base

from providers.base import RateLimited, TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)

Sleeper = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    # A Retry-After longer than this is not waited out inside a cycle: the calendar is retried
    # on a later cycle instead, so one throttled mailbox cannot stall the others.
    max_retry_after: float = 120.0


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** max(attempt - 1, 0)))
    return rng.uniform(0, ceiling)


class _LongRetryAfter(stop_base):
    """Stop when the server asks for a wait longer than the policy will sit through."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return retry_after is not None and float(retry_after) > self.limit


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleeper: Sleeper,
    rng: random.Random,
    describe: str = "request",
) -> T:
    """Run `fn`, retrying `RateLimited` and `TransientError` as the policy says."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return backoff_delay(policy, state.attempt_number, rng)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "%s failed (%s); retry %d/%d in %.1fs",
            describe,
            exc,
            state.attempt_number,
            policy.attempts - 1,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_any(stop_after_attempt(policy.attempts), _LongRetryAfter(policy.max_retry_after)),
        wait=wait,
        retry=retry_if_exception_type((RateLimited, TransientError)),
        sleep=sleeper,
        reraise=True,
        before_sleep=before_sleep,
    )
    return retrying(fn)
