"""The OI surveillance HTTP API, the ``/ws`` alert push and the operator page.

- ``POST /api/market/open-interest/ingest`` and ``POST /api/open-interest-alerts/ingest``:
  a batch is validated whole before anything is written (a bad item is a 400 naming it),
  then written through ``actors.oi.records`` (Redis streams, the ``oi:alerts`` channel, the
  bus: the AlertActor keeps it in memory) and flushed before the answer, so a client reads
  its own writes. Admin routes: they need the bearer token whenever one is configured.
  Bodies are capped at 5 MB (413).
  Whenever a refusal (401, 413) would leave part of the body unread, the rest is read
  and discarded first (up to ``DRAIN_MAX_BYTES``), so the answer comes after the whole
  request and the connection stays usable. Past that bound the answer goes at once, with
  ``Connection: close``, and the rest is discarded after it until hypercorn closes the
  connection: leaving it unread would wedge the connection for good (hypercorn's trio
  worker waits on a full queue towards an app that has returned).
- ``GET`` samples and alerts (newest first) are ``ask``-ed of the AlertActor, which holds
  them as the Redis streams do (``actors.oi.memory``), so they answer while Redis is down.
  Only what memory cannot answer whole is read from the stream instead: after a start,
  before the stream's past is read back, or with no AlertActor answering; if Redis is down
  then too, memory's part is the answer (a 503 only when neither answers). The liquid
  universe and the cached exchangeInfo are ``ask``-ed of the LiquidityActor (a 503 when it
  does not answer). ``/api/binance/futures/info`` answers browsers from any origin (CORS on
  this route only, preflight included).
- WebSocket ``/ws``: every alert on ``ALERT_TOPIC`` as an ``open_interest_alert`` event,
  optionally of one symbol; a slow client loses its oldest pending alerts, it never slows
  the AlertActor (``DROP_OLDEST``).
- ``GET /debug/open-interest``: ``actors.oi.page``; ``GET /debug/open-interest/universe`` is its
  universe section alone, which the page re-fetches (alerts reach it over ``/ws``). Samples and
  alerts come from the AlertActor's memory, as for the ``GET`` routes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import trio
from fastapi import APIRouter, HTTPException, Query, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from actors.oi.page import UNIVERSE_PATH, render_page, render_universe
from actors.oi.payloads import SYMBOL_RE, IngestError, Sample, parse_alerts_batch, parse_samples_batch, sample_to_json
from actors.oi.records import alert_text, record_alert, record_samples, stream_samples
from actors.oi.topics import (
    ALERT_TOPIC, ALERTS_ASK, EXCHANGE_INFO_ASK, INGESTED_ALERTS_TOPIC, READ_LIMIT_MAX, SAMPLES_ASK, SAMPLES_TOPIC,
    UNIVERSE_ASK, AlertsQuery, Recalled, SamplesQuery, UniverseView,
)
from engine import keys
from engine.actor import ActorContext
from engine.bus import Overflow
from engine.pages import PAGES_TAG
from engine.requests import NoReply, ask
from engine.ws import CLIENT_GONE, WS_POLICY_VIOLATION, serve_push
from engine.store_wire import StoreUnavailable

MAX_BODY_BYTES = 5 * 1024 * 1024
DRAIN_MAX_BYTES = 64 * 1024 * 1024  # read and discarded from a refused body before answering
DEFAULT_LIMIT, MAX_LIMIT = 100, READ_LIMIT_MAX
ALERT_SCAN_FACTOR = 10  # a symbol filter reads up to this many entries per alert asked for
MAX_ALERT_SCAN = 20_000  # ... but never more than this in one request
WS_QUEUE_ALERTS = 256
PAGE_SYMBOLS = 50  # sparklines for the most liquid symbols only
PAGE_SAMPLES = 120  # newest samples per sparkline
PAGE_ALERTS = 50
PAGE_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

CORS_HEADERS = {"Access-Control-Allow-Origin": "*"}
CORS_PREFLIGHT_HEADERS = {**CORS_HEADERS, "Access-Control-Allow-Methods": "GET, OPTIONS",
                          "Access-Control-Max-Age": "86400"}
_HEADER_LIST_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*")
_DIGITS_RE = re.compile(r"[0-9]{1,9}")


class BadInput(ValueError):
    """A request field is missing or malformed: a 400 whose message names the field."""


class TooLarge(ValueError):
    """The body is over ``MAX_BODY_BYTES``: a 413. ``unfinished``: part of it is still unread."""

    def __init__(self, message: str, unfinished: bool) -> None:
        super().__init__(message)
        self.unfinished = unfinished


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


# --------------------------------------------------------------------------- input checks

def check_symbol(value: str | None, required: bool) -> str | None:
    """A symbol as Binance spells it (``BTCUSDT``), or None when optional and absent."""
    if value is None:
        if required:
            raise BadInput("symbol: required (e.g. symbol=BTCUSDT)")
        return None
    if not SYMBOL_RE.fullmatch(value):
        raise BadInput(f"symbol: must match ^[A-Z0-9]{{2,30}}$, got {value!r:.40}")
    return value


def check_limit(value: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """An integer in [1, maximum]; ``default`` when absent."""
    if value is None:
        return default
    if not _DIGITS_RE.fullmatch(value) or not 1 <= int(value) <= maximum:
        raise BadInput(f"limit: must be an integer in [1, {maximum}], got {value!r:.40}")
    return int(value)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (TooLarge) as soon as it is known to exceed ``limit`` bytes:
    from Content-Length before reading anything, else while receiving it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(f"body: at most {limit} bytes, got {int(declared)}", unfinished=True)
    chunks, size = [], 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise BadInput("body: the client disconnected before sending it all")
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body: at most {limit} bytes", unfinished=more)
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


async def drain_body(request: Request, max_bytes: float = math.inf) -> bool:
    """Read and discard the rest of a body (call only while it is unfinished): True once it
    ended or the client left, False after ``max_bytes`` with more to come."""
    drained = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return True
        drained += len(message.get("body", b""))
        if drained > max_bytes:
            return False


async def refusal(request: Request, response: Response, unfinished: bool) -> Response:
    """``response`` once the unread rest of the body is out of the way (see the module docstring)."""
    if unfinished and not await drain_body(request, DRAIN_MAX_BYTES):
        response.headers["Connection"] = "close"
        response.background = BackgroundTask(drain_body, request)
    return response


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise BadInput("body: required (a JSON object)")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BadInput(f"body: not valid JSON ({type(error).__name__}: {str(error):.80})") from None


def stream_alerts(entries: Sequence[tuple[str, Mapping[str, str]]], symbol: str | None, limit: int,
                  log: Any) -> list[dict[str, Any]]:
    """The alert documents of ``oi:alerts`` entries (newest first), of ``symbol`` if given."""
    alerts: list[dict[str, Any]] = []
    for entry_id, fields in entries:
        if symbol is not None and fields.get("symbol") != symbol:
            continue
        try:
            doc = json.loads(fields["payload"])
        except (KeyError, ValueError, TypeError) as error:
            log.warning("oi_alert_entry_malformed", entry_id=entry_id, error=f"{type(error).__name__}: {error}")
            continue
        if not isinstance(doc, dict) or (symbol is not None and doc.get("symbol") != symbol):
            continue
        alerts.append(doc)
        if len(alerts) >= limit:
            break
    return alerts


# --------------------------------------------------------------------------- websocket

async def _forward_alerts(ctx: ActorContext, websocket: WebSocket, symbol: str | None) -> None:
    """Send the client's alerts until the subscription ends or the client is gone."""
    with ctx.bus.subscribe(ALERT_TOPIC, maxlen=WS_QUEUE_ALERTS, overflow=Overflow.DROP_OLDEST) as alerts:
        async for alert in alerts:
            if symbol is not None and alert.symbol != symbol:
                continue
            try:
                await websocket.send_text(alert_text(alert))  # alert_to_json carries "type"
            except CLIENT_GONE:
                return








# --------------------------------------------------------------------------- router

def oi_router(ctx: ActorContext, require_admin: Callable[[Request], None], timeout_s: float = 2.0) -> APIRouter:
    """The OI routes (see the module docstring)."""
    router = APIRouter()
    log = ctx.log.bind(component="oi_api")

    async def flushed(what: str, count: int) -> None:
        """Wait (bounded) until the writes are on the server; during an outage they stay queued."""
        if not await ctx.store.flush(timeout_s):
            log.warning("oi_ingest_not_flushed", what=what, count=count, timeout_s=timeout_s)

    async def admitted_body(request: Request) -> bytes | Response:
        """The body of an admin request, or the refusal (401, 413) to answer instead."""
        try:
            require_admin(request)
        except HTTPException as refused:  # nothing read yet
            return await refusal(request, JSONResponse({"detail": refused.detail}, status_code=refused.status_code,
                                                       headers=refused.headers), unfinished=True)
        try:
            return await read_body(request)
        except TooLarge as error:
            return await refusal(request, _error(413, str(error)), error.unfinished)

    async def held_samples(symbols: Sequence[str], limit: int) -> dict[str, Recalled]:
        """What the AlertActor holds of each symbol's newest samples; {} when it does not answer."""
        try:
            return await ask(ctx.bus, SAMPLES_ASK, SamplesQuery(tuple(symbols), limit), timeout_s) or {}
        except NoReply:
            return {}

    async def read_samples(symbol: str, limit: int, held: Recalled | None) -> tuple[list[Sample], str | None]:
        """(samples newest first, why only memory's part): memory's answer when it is whole, else the
        stream's, else (Redis down) memory's part. StoreUnavailable when neither answered."""
        if held is not None and held.complete:
            return list(held.items), None
        try:
            entries = await ctx.store.xrevrange(keys.oi_samples(symbol), limit)
        except StoreUnavailable as error:
            if held is None:
                raise
            return list(held.items), str(error)
        return stream_samples(symbol, entries, log), None

    async def read_alerts(symbol: str | None, limit: int, scan: int) -> tuple[list[dict[str, Any]], str | None]:
        """As ``read_samples``, for up to ``limit`` alerts among the newest ``scan`` recorded."""
        try:
            held: Recalled | None = await ask(ctx.bus, ALERTS_ASK, AlertsQuery(symbol, limit, scan), timeout_s)
        except NoReply:
            held = None
        if held is not None and held.complete:
            return [json.loads(text) for text in held.items], None
        try:
            entries = await ctx.store.xrevrange(keys.OI_ALERTS, scan)
        except StoreUnavailable as error:
            if held is None:
                raise
            return [json.loads(text) for text in held.items], str(error)
        return stream_alerts(entries, symbol, limit, log), None

    @router.post("/api/market/open-interest/ingest",
                 summary="Ingest OI samples: {\"source\": \"snapshot\"|\"realtime\", \"items\": [...]}, all or nothing")
    async def ingest_samples(request: Request) -> Response:
        body = await admitted_body(request)
        if isinstance(body, Response):
            return body
        try:
            samples = parse_samples_batch(parse_json(body))
        except (BadInput, IngestError) as error:
            return _error(400, str(error))
        if samples:
            record_samples(ctx.store, samples)
            with trio.move_on_after(timeout_s) as waited:
                await ctx.bus.publish(SAMPLES_TOPIC, samples)
            if waited.cancelled_caught:
                log.warning("oi_ingest_samples_not_published", count=len(samples), timeout_s=timeout_s)
            await flushed("samples", len(samples))
        return JSONResponse({"accepted": len(samples)})

    @router.post("/api/open-interest-alerts/ingest",
                 summary="Ingest alerts: {\"items\": [open_interest_alert, ...]}, all or nothing")
    async def ingest_alerts(request: Request) -> Response:
        body = await admitted_body(request)
        if isinstance(body, Response):
            return body
        try:
            alerts = parse_alerts_batch(parse_json(body))
        except (BadInput, IngestError) as error:
            return _error(400, str(error))
        for alert in alerts:
            record_alert(ctx.store, ctx.bus, alert)
        if alerts:
            with trio.move_on_after(timeout_s) as waited:
                await ctx.bus.publish(INGESTED_ALERTS_TOPIC, alerts)  # to the AlertActor's memory
            if waited.cancelled_caught:
                log.warning("oi_ingest_alerts_not_published", count=len(alerts), timeout_s=timeout_s)
            await flushed("alerts", len(alerts))
        return JSONResponse({"accepted": len(alerts)})

    @router.get("/api/market/open-interest/liquid-universe", summary="The liquid universe and its metadata")
    async def liquid_universe() -> JSONResponse:
        try:
            view: UniverseView = await ask(ctx.bus, UNIVERSE_ASK, None, timeout_s)
        except NoReply as error:
            return _error(503, f"liquidity service unavailable: {error}")
        return JSONResponse(view.to_json())

    @router.get("/api/market/open-interest/samples", summary="Recent OI samples of one symbol, newest first")
    async def samples(symbol: str | None = Query(None, description="e.g. BTCUSDT"),
                      limit: str | None = Query(None, description=f"1..{MAX_LIMIT}, default {DEFAULT_LIMIT}")
                      ) -> JSONResponse:
        try:
            name, count = check_symbol(symbol, required=True), check_limit(limit)
        except BadInput as error:
            return _error(400, str(error))
        assert name is not None
        try:
            found, _ = await read_samples(name, count, (await held_samples((name,), count)).get(name))
        except StoreUnavailable as error:
            return _error(503, f"alert service not answering and redis unavailable: {error}")
        return JSONResponse({"symbol": name, "samples": [sample_to_json(s) for s in found]})

    @router.get("/api/open-interest-alerts", summary="Recent OI alerts, newest first, optionally of one symbol")
    async def recent_alerts(symbol: str | None = Query(None, description="only this symbol"),
                            limit: str | None = Query(None, description=f"1..{MAX_LIMIT}, default {DEFAULT_LIMIT}")
                            ) -> JSONResponse:
        try:
            name, count = check_symbol(symbol, required=False), check_limit(limit)
        except BadInput as error:
            return _error(400, str(error))
        scan = count if name is None else min(count * ALERT_SCAN_FACTOR, MAX_ALERT_SCAN)
        try:
            found, _ = await read_alerts(name, count, scan)
        except StoreUnavailable as error:
            return _error(503, f"alert service not answering and redis unavailable: {error}")
        return JSONResponse({"symbol": name, "alerts": found})

    @router.get("/api/binance/futures/info", summary="The cached Binance USDⓈ-M exchangeInfo (CORS: any origin)")
    async def futures_info() -> Response:
        try:
            text = await ask(ctx.bus, EXCHANGE_INFO_ASK, None, timeout_s)
        except NoReply as error:
            return _error(503, f"liquidity service unavailable: {error}", CORS_HEADERS)
        if text is None:
            return _error(503, "exchangeInfo not fetched yet", {**CORS_HEADERS, "Retry-After": "5"})
        return Response(content=text, media_type="application/json", headers=CORS_HEADERS)

    @router.options("/api/binance/futures/info", include_in_schema=False)
    async def futures_info_preflight(request: Request) -> Response:
        headers = dict(CORS_PREFLIGHT_HEADERS)
        wanted = request.headers.get("access-control-request-headers", "").strip()
        if wanted and _HEADER_LIST_RE.fullmatch(wanted):
            headers["Access-Control-Allow-Headers"] = wanted
        return Response(status_code=204, headers=headers)

    @router.websocket("/ws")
    async def alert_push(websocket: WebSocket) -> None:
        """Pushes every ``open_interest_alert`` (of ``?symbol=`` when given)."""
        await websocket.accept()
        try:
            symbol = check_symbol(websocket.query_params.get("symbol"), required=False)
        except BadInput as error:
            await websocket.close(code=WS_POLICY_VIOLATION, reason=str(error)[:120])
            return
        await serve_push(websocket, ctx.stopping, lambda: _forward_alerts(ctx, websocket, symbol))

    async def universe_section() -> tuple[UniverseView | None, dict[str, list[Sample]], list[str]]:
        """The universe (asked of the LiquidityActor), recent samples of its most liquid symbols
        (``read_samples``) and the problems met."""
        notes: list[str] = []
        try:
            view: UniverseView | None = await ask(ctx.bus, UNIVERSE_ASK, None, timeout_s)
        except NoReply as error:
            view = None
            notes.append(f"liquidity service unavailable: {error}")
        charted: list[str] = []
        if view is not None:
            def volume(symbol: str) -> float:
                meta = view.meta.get(symbol)
                return meta.quote_volume_24h if meta is not None else 0.0
            charted = sorted(view.symbols, key=lambda s: (-volume(s), s))[:PAGE_SYMBOLS]
        series: dict[str, list[Sample]] = {}
        failures: list[str] = []
        held = await held_samples(charted, PAGE_SAMPLES) if charted else {}

        async def fetch(symbol: str) -> None:
            try:
                series[symbol], problem = await read_samples(symbol, PAGE_SAMPLES, held.get(symbol))
            except StoreUnavailable as error:
                failures.append(str(error))
                return
            if problem is not None:
                failures.append(problem)

        async with trio.open_nursery() as nursery:  # memory answers at once; the store's read limiter bounds the rest
            for symbol in charted:
                nursery.start_soon(fetch, symbol)
        if failures:
            notes.append(f"redis unavailable: {failures[0]}")
        return view, {s: series[s] for s in charted if s in series}, notes

    @router.get("/debug/open-interest", response_class=HTMLResponse, tags=[PAGES_TAG],
                summary="Open interest: the universe, recent OI per symbol, alerts as they arrive")
    async def debug_page() -> HTMLResponse:
        view, series, notes = await universe_section()
        alerts: list[dict[str, Any]] = []
        try:
            alerts, problem = await read_alerts(None, PAGE_ALERTS, PAGE_ALERTS)
        except StoreUnavailable as error:
            problem = str(error)
        if problem is not None and not any(note.startswith("redis unavailable") for note in notes):
            notes.append(f"redis unavailable: {problem}")
        page = render_page(view, series, alerts, ctx.clock.time_ms(), notes)
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.get(UNIVERSE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def debug_page_universe() -> HTMLResponse:
        view, series, notes = await universe_section()
        return HTMLResponse(render_universe(view, series, notes), headers=PAGE_HEADERS)

    return router

