"""Small JSON-over-HTTP helpers shared by the venue clients.

Venue protocols differ in how they signal errors and limits, so each adapter keeps its
own retry loop; what they share lives here: the exception vocabulary callers branch on,
safe JSON parsing (a truncated body is a clear ``VenueProtocolError``, never a crash),
capped exponential backoff with jitter as a pure function, and the client defaults.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import attrs
import httpx

from engine.metrics import EngineMetrics

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 3.0
BODY_EXCERPT_CHARS = 120


class VenueProtocolError(Exception):
    """The venue answered something we cannot read: not JSON, or JSON of the wrong shape.

    Unparseable bodies (truncated transfers, gateway pages) are worth a retry; a
    well-formed body of the wrong shape means the protocol changed and is not.
    """

    def __init__(self, venue: str, what: str, detail: str, *, retryable: bool = False) -> None:
        super().__init__(f"{venue}: {what}: {detail}")
        self.venue, self.what, self.detail, self.retryable = venue, what, detail, retryable


class VenueHttpError(Exception):
    """A non-2xx answer without a venue error body we understand (gateway pages, 404s).

    5xx (and 408) say nothing about our request, so they are retried; other 4xx are not.
    """

    def __init__(self, venue: str, what: str, status: int, body_excerpt: str) -> None:
        super().__init__(f"{venue}: {what}: HTTP {status}: {body_excerpt!r}")
        self.venue, self.what, self.status, self.body_excerpt = venue, what, status, body_excerpt

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status == 408


class VenueUnavailable(Exception):
    """Every attempt failed (timeouts, 5xx, unreadable bodies, throttles): try later.

    The last underlying error is chained as ``__cause__``.
    """

    def __init__(self, venue: str, what: str, attempts: int, last_error: str) -> None:
        super().__init__(f"{venue}: {what} failed after {attempts} attempts; last error: {last_error}")
        self.venue, self.what, self.attempts, self.last_error = venue, what, attempts, last_error


# Request failures worth a retry: connect/read/write errors, every timeout, bad encodings.
TRANSIENT_HTTP_ERRORS: tuple[type[BaseException], ...] = (httpx.RequestError,)
# ... except the ones no retry can fix (a URL with a scheme httpx cannot speak).
PERMANENT_HTTP_ERRORS: tuple[type[BaseException], ...] = (httpx.UnsupportedProtocol,)
# What a venue's retry loop catches besides its own error class.
RETRY_CANDIDATES: tuple[type[BaseException], ...] = (VenueProtocolError, VenueHttpError, *TRANSIENT_HTTP_ERRORS)


def retry_or_raise(error: BaseException) -> BaseException:
    """The one rule every venue's retry loop follows: return ``error`` when a new attempt
    may cure it (a transient transport error, or one that says ``retryable``), else raise it."""
    if isinstance(error, PERMANENT_HTTP_ERRORS):
        raise error
    if isinstance(error, TRANSIENT_HTTP_ERRORS) or getattr(error, "retryable", False):
        return error
    raise error


async def pause_before_retry(clock: Any, log: Any, policy: "RetryPolicy", unit_random: float, venue: str,
                             attempt: int, error: BaseException | None, **where: Any) -> None:
    """The wait between attempt ``attempt`` (0-based) of a venue call and the next, logged as
    ``venue_retry`` with ``where`` (the method or path) and the error that caused it."""
    delay_s = policy.delay_s(attempt, unit_random)
    log.warning("venue_retry", venue=venue, **where, attempt=attempt + 1, error=describe_error(error),
                delay_s=round(delay_s, 3))
    await clock.sleep(delay_s)


def excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    """The start of a body, for error messages and logs (bodies never hold secrets here)."""
    text = text.strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def describe_error(error: BaseException | None) -> str:
    """``Type: message`` for logs and ``VenueUnavailable`` (httpx timeouts have no message)."""
    if error is None:
        return "none"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def parse_json(body: bytes | str, venue: str, what: str) -> Any:
    """Decode a JSON body or raise ``VenueProtocolError`` naming the venue and call."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and bad unicode alike; nested too deeply
        reason = getattr(error, "msg", None) or type(error).__name__
        raise VenueProtocolError(venue, what, f"malformed JSON ({reason}): {excerpt(text)!r}",
                                 retryable=True) from None


def finite_number(value: Any, venue: str, what: str, field: str) -> float:
    """A finite float from a JSON number or a numeric string (Binance sends strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise VenueProtocolError(venue, what, f"{field} is not a number: {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float (JSON integers have no bound)
        raise VenueProtocolError(venue, what, f"{field} is not finite: {excerpt(str(value))}") from None
    except ValueError:
        raise VenueProtocolError(venue, what, f"{field} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise VenueProtocolError(venue, what, f"{field} is not finite: {value!r}")
    return number


@attrs.frozen
class RetryPolicy:
    """How often and how patiently a venue call is retried."""

    max_retries: int = attrs.field(default=4, validator=attrs.validators.ge(0))
    backoff_initial_s: float = attrs.field(default=0.2, validator=attrs.validators.gt(0))
    backoff_max_s: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))

    def delay_s(self, retry: int, unit_random: float) -> float:
        return backoff_delay_s(retry, self.backoff_initial_s, self.backoff_max_s, unit_random)


def backoff_delay_s(retry: int, initial_s: float, max_s: float, unit_random: float) -> float:
    """Delay before retry number ``retry`` (0-based): capped exponential with "equal
    jitter", in ``[cap/2, cap]`` where ``cap = min(max_s, initial_s * 2**retry)``.

    Half the delay is guaranteed so a retry never hammers the venue at once; the random
    half spreads clients that failed together. ``unit_random`` in [0, 1) keeps this pure.
    """
    cap_s = min(max_s, initial_s * 2.0 ** min(retry, 62))
    return cap_s / 2.0 + cap_s / 2.0 * min(max(unit_random, 0.0), 1.0)


@attrs.define
class VenueMeter:
    """Counts requests, weight and throttles of one venue into the engine metrics.

    A limiter built with the metrics already counts granted weight and pauses; then this
    meter counts only requests, so every number is counted exactly once either way.
    """

    venue: str
    metrics: EngineMetrics
    limiter_counts: bool

    @classmethod
    def for_limiter(cls, venue: str, metrics: EngineMetrics, limiter: Any) -> VenueMeter:
        return cls(venue, metrics, limiter_counts=getattr(limiter, "metrics", None) is not None)

    def request(self, weight: float) -> None:
        self.metrics.venue_requests.labels(venue=self.venue).inc()
        if not self.limiter_counts and weight:
            self.metrics.venue_weight_used.labels(venue=self.venue).inc(weight)

    def throttled(self) -> None:
        if not self.limiter_counts:
            self.metrics.venue_throttled.labels(venue=self.venue).inc()


def make_jitter(seed: int | None = None) -> random.Random:
    """A private random source for jitter (no module-level state; seedable in tests)."""
    return random.Random(seed)


def default_timeout(timeout_s: float = DEFAULT_TIMEOUT_S) -> httpx.Timeout:
    """Every phase bounded: a stalled venue costs at most ``timeout_s`` per attempt."""
    return httpx.Timeout(timeout_s, connect=min(timeout_s, DEFAULT_CONNECT_TIMEOUT_S))


def default_limits() -> httpx.Limits:
    """One pool per venue; enough keep-alive connections for concurrent pollers."""
    return httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)


def open_http_client(timeout_s: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> httpx.AsyncClient:
    """The shared client of one venue (the caller closes it)."""
    return httpx.AsyncClient(timeout=default_timeout(timeout_s), limits=default_limits(),
                             headers={"Accept": "application/json"}, **kwargs)
