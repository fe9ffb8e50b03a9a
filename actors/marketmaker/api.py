"""The market-making HTTP API and its operator pages, answered from the market makers' memory.

The market makers keep their state where operators and restarts find it:
``mm:{PAIR}:status`` (a JSON document) and ``mm:{PAIR}:orders`` (a hash: client order id ->
JSON order), written together in one MULTI. The API asks each market maker over the bus for
its view (``actors.marketmaker.fills.MarketMakerView``), which carries the same two texts as
of this moment, so it keeps answering while Redis is down. For a market maker that does not
answer (stopped, restarting, not started yet) it reads the keys instead, both in one MULTI
(they share a hash tag), so that answer never mixes two rounds: its last written state. It
never calls a venue.

- ``GET /api/mm``: ``{"pairs": [{"pair", "status", "book_age_ms"}, ...]}`` for every
  configured pair, in config order; a pair whose market maker does not answer while Redis
  does not either is listed with ``"status": null`` and a ``"problems"`` entry saying so.
- ``GET /api/mm/{pair}``: ``{"pair", "status", "orders", "book_age_ms"}``; ``status`` is the
  actor's document (``null`` before its first write), ``orders`` the open quotes
  (``{"client_id", "side", "price", "qty", "ladder", "order_id"}``, prices and quantities as
  the exact decimal strings written), asks then bids, highest price first. 404 for a pair that
  is not configured, 503 when the market maker does not answer and Redis does not either.
- ``GET /debug/mm``: ``actors.marketmaker.page``: quotes, counters and book age per pair, with
  the top of the book the market maker holds (for one not answering: as last written, with
  ``orderbook:binance:{PAIR}`` when it holds one).

The live operator pages ``GET /pages/mm`` and ``GET /pages/mm/{pair}`` (with ``/live``, their
live regions) show more of the same view (position, fills), and say so when a market maker
does not answer.

``book_age_ms`` is the age of the book the pair last quoted from (``now - status.book_ts``),
``null`` when unknown. The pair list comes from the configuration (``make_mm_router``), so an
unknown name is a 404 even if some other writer left keys behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from actors.marketmaker import page as pages
from actors.marketmaker.book_feed import book_from_document
from actors.marketmaker.fills import MarketMakerView, view_topic
from actors.marketmaker.ladders import Book
from actors.marketmaker.page import PairView, render_page
from engine import keys
from engine.actor import ActorContext
from engine.api import RouterFactory
from engine.pages import PAGES_TAG, error_page, fragment_response, page_response
from engine.requests import NoReply, ask
from engine.store_wire import StoreUnavailable

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
ORDER_FIELDS = ("side", "price", "qty", "ladder", "order_id")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


# --------------------------------------------------------------------------- pure parts


def parse_status(text: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """(status document, problem): (None, None) when absent, (None, reason) when unreadable."""
    if text is None:
        return None, None
    try:
        document = json.loads(text)
    except (ValueError, TypeError) as error:
        return None, f"status is not JSON: {error}"
    if not isinstance(document, dict):
        return None, "status is not a JSON object"
    return document, None


def _price_key(order: Mapping[str, Any]) -> Decimal:
    try:
        return Decimal(str(order.get("price")))
    except InvalidOperation:
        return Decimal(0)


def parse_orders(fields: Mapping[str, str]) -> tuple[list[dict[str, Any]], int]:
    """(orders, malformed): the hash's orders as documents, asks then bids, each side highest
    price first (a ladder read top to bottom); entries that are not order documents are counted."""
    orders, malformed = [], 0
    for client_id, text in fields.items():
        try:
            document = json.loads(text)
        except (ValueError, TypeError):
            malformed += 1
            continue
        if not isinstance(document, dict) or document.get("side") not in ("BUY", "SELL"):
            malformed += 1
            continue
        try:
            Decimal(str(document.get("price")))
        except InvalidOperation:
            malformed += 1
            continue
        orders.append({"client_id": client_id, **{name: document.get(name) for name in ORDER_FIELDS}})
    orders.sort(key=lambda o: (o["side"] != "SELL", -_price_key(o), o["client_id"]))
    return orders, malformed


def book_age_ms(status: Mapping[str, Any] | None, now_ms: int) -> int | None:
    book_ts = status.get("book_ts") if status is not None else None
    if isinstance(book_ts, bool) or not isinstance(book_ts, int):
        return None
    return now_ms - book_ts


def pair_document(pair: str, status_text: str | None, order_fields: Mapping[str, str],
                  now_ms: int) -> dict[str, Any]:
    """The ``GET /api/mm/{pair}`` answer from the two Redis values."""
    status, problem = parse_status(status_text)
    orders, malformed = parse_orders(order_fields)
    document: dict[str, Any] = {"pair": pair, "status": status, "orders": orders,
                                "book_age_ms": book_age_ms(status, now_ms)}
    problems = ([problem] if problem else []) + ([f"{malformed} malformed order entries skipped"] if malformed else [])
    if problems:
        document["problems"] = problems
    return document


# --------------------------------------------------------------------------- router


def mm_router(ctx: ActorContext, require_admin: Callable[[Request], None],
              pairs: Sequence[str] = (), timeout_s: float = 2.0) -> APIRouter:
    """GET /api/mm, GET /api/mm/{pair}, GET /debug/mm and the live pages for the configured ``pairs``."""
    configured = tuple(dict.fromkeys(pairs))
    router = APIRouter()
    log = ctx.log.bind(component="mm_api")

    async def read_pair(pair: str) -> tuple[str | None, dict[str, str]]:
        """Status and orders in one MULTI (one hash slot), as the actor wrote them together."""
        status_key, orders_key = keys.mm_status(pair), keys.mm_orders(pair)

        def read(client: Any) -> list[Any]:
            return client.pipeline(transaction=True).get(status_key).hgetall(orders_key).execute()

        status_text, order_fields = await ctx.store.call(read)
        return status_text, order_fields or {}

    async def state_of(pair: str) -> tuple[dict[str, Any], Book | None]:
        """The pair's document and the top of its book: from the market maker's memory, or (when it does
        not answer) as it last wrote them to Redis; StoreUnavailable when neither answers."""
        _, view, _ = await view_of(pair)
        if view is not None:
            document = pair_document(pair, view.status_text, dict(view.order_fields), ctx.clock.time_ms())
            top = view.book
        else:
            status_text, order_fields = await read_pair(pair)
            document = pair_document(pair, status_text, order_fields, ctx.clock.time_ms())
            top = await read_top_of_book(pair)
        if "problems" in document:
            log.warning("mm_state_malformed", pair=pair, problems=document["problems"])
        return document, top

    async def listed(pair: str) -> dict[str, Any]:
        try:
            document, _ = await state_of(pair)
        except StoreUnavailable as error:
            return {"pair": pair, "status": None, "book_age_ms": None,
                    "problems": [f"market maker not answering and redis unavailable: {error}"]}
        return {k: document[k] for k in ("pair", "status", "book_age_ms", "problems") if k in document}

    @router.get("/api/mm", summary="Every configured market-making pair with its status")
    async def list_pairs() -> JSONResponse:
        return JSONResponse({"pairs": [await listed(pair) for pair in configured]})

    @router.get("/api/mm/{pair}", summary="One pair's status and open quotes (as in mm:{pair}:status and :orders)")
    async def get_pair(pair: str) -> JSONResponse:
        name = pair.strip().upper()
        if name not in configured:
            return _error(404, f"pair: {pair!r:.40} is not configured", pairs=list(configured))
        try:
            document, _ = await state_of(name)
        except StoreUnavailable as error:
            return _error(503, f"market maker not answering and redis unavailable: {error}")
        return JSONResponse(document)

    @router.get("/debug/mm", response_class=HTMLResponse, tags=[PAGES_TAG],
                summary="Market making: quotes, counters and book age of every pair")
    async def debug_page() -> HTMLResponse:
        notes: list[str] = []
        views: list[PairView] = []
        for pair in configured:
            try:
                views.append(PairView(*await state_of(pair)))
            except StoreUnavailable as error:
                notes.append(f"{pair}: market maker not answering and redis unavailable: {error}")
        page = render_page(views, ctx.clock.time_ms(), notes)
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"})

    async def read_top_of_book(pair: str) -> Book | None:
        """The book feed's latest document, if there is one (stream pairs, or another writer's)."""
        text = await ctx.store.get(keys.orderbook("binance", pair))
        if text is None:
            return None
        try:
            return book_from_document(text)
        except ValueError:
            return None

    async def view_of(pair: str) -> tuple[str, MarketMakerView | None, str | None]:
        try:
            return pair, await ask(ctx.bus, view_topic(pair), None, timeout_s), None
        except NoReply as error:
            return pair, None, f"market maker not answering: {error}"

    async def pairs_live() -> str:
        return pages.render_pairs_live([await view_of(pair) for pair in configured], ctx.clock.time_ms())

    async def pair_live(pair: str) -> str:
        _, view, problem = await view_of(pair)
        if view is None:
            return f'<p class="note">{pages.esc(problem)}</p>'
        return pages.render_pair_live(view, ctx.clock.time_ms())

    def configured_pair(pair: str) -> str | None:
        name = pair.strip().upper()
        return name if name in configured else None

    @router.get(pages.PAGES_PATH, response_class=HTMLResponse, tags=[PAGES_TAG],
                summary="Market making, live: quotes, position and fills of every pair")
    async def pairs_page() -> HTMLResponse:
        return page_response(pages.pairs_page(await pairs_live()))

    @router.get(f"{pages.PAGES_PATH}/live", response_class=HTMLResponse, include_in_schema=False)
    async def pairs_page_live() -> HTMLResponse:
        return fragment_response(await pairs_live())

    @router.get(pages.PAGES_PATH + "/{pair}", response_class=HTMLResponse, tags=[PAGES_TAG],
                summary="One market-making pair, live: both quote ladders, position, fills")
    async def pair_page(pair: str) -> HTMLResponse:
        name = configured_pair(pair)
        if name is None:
            return error_page("Market making", f"pair {pair!r:.40} is not configured", 404)
        return page_response(pages.pair_page(name, await pair_live(name)))

    @router.get(pages.PAGES_PATH + "/{pair}/live", response_class=HTMLResponse, include_in_schema=False)
    async def pair_page_live(pair: str) -> HTMLResponse:
        name = configured_pair(pair)
        if name is None:
            return fragment_response(f'<p class="note">pair {pages.esc(pair[:40])} is not configured</p>', 404)
        return fragment_response(await pair_live(name))

    return router


def make_mm_router(pairs: Sequence[str]) -> RouterFactory:
    """The router factory ``run.py`` mounts: ``mm_router`` bound to the configured pairs."""
    configured = tuple(pairs)

    def factory(ctx: ActorContext, require_admin: Callable[[Request], None]) -> APIRouter:
        return mm_router(ctx, require_admin, configured)

    return factory
