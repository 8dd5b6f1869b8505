"""Bounded retries with backoff: the one loop every network call of juliapack goes through.

A call that fails in a way worth another try raises `Transient`; `retrying` pauses (doubling, capped,
or as long as the server's Retry-After asks), says so through ``on_retry`` (so a wait is never
silent), and gives up after ``backoff.attempts`` tries with the error ``give_up`` makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")
Sleep = Callable[[float], None]


class Transient(Exception):
    """A failure worth another try: no answer, a cut transfer, 429, 5xx."""

    def __init__(self, message: str, *, fix: str = "", retry_after: float | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.retry_after = retry_after  # seconds the server asked for (Retry-After)
        self.refused = refused  # the server turned the request away unread (429): repeating it is always safe


@dataclass(frozen=True)
class Backoff:
    attempts: int  # tries in all, the first included
    first_delay: float  # seconds before the second try; doubled for each one after
    max_delay: float

    def delay(self, failures: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** (failures - 1))


def retrying(
    attempt: Callable[[], T],
    *,
    backoff: Backoff,
    sleep: Sleep,
    give_up: Callable[[Transient, int], Exception],
    on_retry: Callable[[Transient, float, int], None] = lambda problem, delay, next_try: None,
    done_meanwhile: Callable[[], bool] | None = None,
) -> T | None:
    """``attempt()`` until it returns, at most ``backoff.attempts`` times.

    ``on_retry(problem, delay, next_try)`` is told before every pause; ``give_up(problem, tries)``
    makes the error raised after the last. ``done_meanwhile``, asked after each pause, tells whether a
    try whose answer was lost got through after all; then None is returned instead of trying again.
    """
    for tries in range(1, backoff.attempts + 1):
        try:
            return attempt()
        except Transient as problem:
            if tries == backoff.attempts:
                raise give_up(problem, tries) from problem
            delay = problem.retry_after if problem.retry_after is not None else backoff.delay(tries)
            on_retry(problem, delay, tries + 1)
            sleep(delay)
            if done_meanwhile is not None and done_meanwhile():
                return None
    raise AssertionError("unreachable")  # pragma: no cover
