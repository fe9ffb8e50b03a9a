"""Dhan's error vocabulary: what a code means for the caller (pure).

Why one table for REST and feed: the same numbers (805, 807, 808 ...) come back from
the data APIs and as feed disconnect reasons, and callers branch on the *meaning*:
retry later, stop and ask for a new token, or fix the configuration.
"""

from __future__ import annotations


class DhanError(Exception):
    """A Dhan answer that carries a venue code (``code`` may be None: "failure", no detail)."""

    retryable = False

    def __init__(self, code: int | str | None, message: str, what: str = "") -> None:
        where = f" ({what})" if what else ""
        label = f"error {code}" if code is not None else "error"
        super().__init__(f"dhan {label}{where}: {message}")
        self.code, self.message, self.what = code, message, what


class DhanApiError(DhanError):
    """A code with no special meaning for the caller (800 internal, 806 ...)."""

    def __init__(self, code: int | str | None, message: str, what: str = "", *, retryable: bool = False) -> None:
        super().__init__(code, message, what)
        self.retryable = retryable


class DhanRateLimited(DhanError):
    """805 on REST: the venue's budget is spent; the client backs off and retries."""

    retryable = True


class DhanTokenExpired(DhanError):
    """807: the access token expired. Not retried: an operator must renew the token."""


class DhanAuthError(DhanError):
    """806/808/809/810: credentials or data-API subscription are not valid."""


class DhanConfigError(DhanError):
    """804/811/812/813/814: the request itself is wrong (unknown expiry, security id ...)."""


class DhanTooManyConnections(DhanError):
    """Feed: the 5-connection cap is used up (disconnect reason 805, or HTTP 429 at the handshake)."""


class DhanFeedClosed(DhanError):
    """Feed: the connection ended without a reason we can map (dropped, closed, unknown reason)."""


RATE_LIMIT = 805
TOKEN_EXPIRED = 807
AUTH_CODES = frozenset({806, 808, 809, 810})
CONFIG_CODES = frozenset({804, 811, 812, 813, 814})
RETRYABLE_CODES = frozenset({800})
# The trading APIs' ``DH-9xx`` codes, in case a data endpoint answers with that shape.
DH_CODES: dict[str, int] = {"DH-901": 808, "DH-902": 806, "DH-904": 805, "DH-905": 814, "DH-907": 814,
                            "DH-908": 800, "DH-909": 800}
FEED_REASONS: dict[int, str] = {805: "too many connections", 806: "data APIs not subscribed",
                                807: "access token expired", 808: "invalid client id", 809: "authentication failed"}


def numeric_code(code: object) -> int | None:
    """805, "805" and "DH-904" (its data-API equivalent) as an int; None when not a code."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str):
        text = code.strip()
        if text.isascii() and text.isdigit():  # "²".isdigit() is True, but int() refuses it
            return int(text)
        return DH_CODES.get(text.upper())
    return None


def rest_error(code: object, message: str, what: str) -> DhanError:
    """The exception for a data-API error code."""
    number = numeric_code(code)
    shown = code if number is None else number
    if number == RATE_LIMIT:
        return DhanRateLimited(shown, message, what)
    if number == TOKEN_EXPIRED:
        return DhanTokenExpired(shown, message, what)
    if number in AUTH_CODES:
        return DhanAuthError(shown, message, what)
    if number in CONFIG_CODES:
        return DhanConfigError(shown, message, what)
    return DhanApiError(shown, message, what, retryable=number in RETRYABLE_CODES)


def feed_disconnect_error(reason: int) -> DhanError:
    """The exception for a feed disconnect packet's reason."""
    message = FEED_REASONS.get(reason, "disconnected by the server")
    if reason == RATE_LIMIT:
        return DhanTooManyConnections(reason, message, "feed")
    if reason == TOKEN_EXPIRED:
        return DhanTokenExpired(reason, message, "feed")
    if reason in AUTH_CODES:
        return DhanAuthError(reason, message, "feed")
    return DhanFeedClosed(reason, message, "feed")
