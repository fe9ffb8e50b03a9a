"""POST /instruments (regenerate every market now) and the instruments operator page.

Both are answered by the InstrumentsActor over the bus: ``REGENERATE_TOPIC`` runs an update,
``VIEW_TOPIC`` returns what it listed last (in memory), which ``GET /pages/instruments`` shows
and ``GET /pages/instruments/ladder.png`` draws.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Callable

import attrs
import trio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from actors.instruments import page
from actors.instruments.actor import REGENERATE_TOPIC, VIEW_TOPIC, MarketState
from engine.actor import ActorContext
from engine.pages import PAGES_TAG, error_page, esc, fragment_response, page_response
from engine.requests import NoReply, ask

MATURITY_RE = re.compile(r"[0-9]{1,2}[A-Z]{3}[0-9]{2}")
MARKET_RE = re.compile(r"[A-Z0-9]{2,10}")
PICTURES_CACHED = 32  # drawn ladders kept, by (market, maturity, listing time)


class BadSelection(ValueError):
    """A page's market or maturity parameter is malformed: a 400 naming it."""


def check_selection(market: str | None, maturity: str | None) -> tuple[str | None, str | None]:
    if market is not None and not MARKET_RE.fullmatch(market):
        raise BadSelection(f"market: must match ^[A-Z0-9]{{2,10}}$, got {market!r:.40}")
    if maturity is not None and not MATURITY_RE.fullmatch(maturity):
        raise BadSelection(f"maturity: must be a code like 28MAR25, got {maturity!r:.40}")
    if maturity is not None and market is None:
        raise BadSelection("market: required with maturity")
    return market, maturity


def instruments_router(ctx: ActorContext, require_admin: Callable[[Request], None],
                       timeout_s: float = 120.0, view_timeout_s: float = 2.0) -> APIRouter:
    router = APIRouter()
    pictures: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()

    @router.post("/instruments", summary="Regenerate the instrument names of every market (empty body only)",
                 dependencies=[Depends(require_admin)])
    async def regenerate(request: Request) -> JSONResponse:
        if (await request.body()).strip():
            return JSONResponse({"error": "POST /instruments takes an empty body"}, status_code=400)
        try:
            results = await ask(ctx.bus, REGENERATE_TOPIC, "regenerate", timeout_s)
        except NoReply as error:
            return JSONResponse({"error": f"instrument update did not run: {error}"}, status_code=500)
        body: dict[str, Any] = {"markets": {r.market: attrs.asdict(r) for r in results}}
        if results and not any(r.ok for r in results):
            body["error"] = "every market failed"
            return JSONResponse(body, status_code=500)
        return JSONResponse(body)

    async def states() -> tuple[MarketState, ...]:
        return await ask(ctx.bus, VIEW_TOPIC, None, view_timeout_s)

    async def markets_html(market: str | None, maturity: str | None) -> str:
        try:
            found = await states()
        except NoReply as error:
            return f'<p class="note">instrument service unavailable: {esc(error)}</p>'
        return page.render_markets(found, {market: maturity} if market and maturity else {})

    @router.get(page.PAGE_PATH, response_class=HTMLResponse, tags=[PAGES_TAG],
                summary="Instruments: maturities and strike ladder of each market, last update")
    async def instruments_page(market: str | None = Query(None, description="e.g. BTC"),
                               maturity: str | None = Query(None, description="e.g. 28MAR25: the ladder drawn")
                               ) -> HTMLResponse:
        try:
            market, maturity = check_selection(market, maturity)
        except BadSelection as error:
            return error_page("Instruments", str(error), 400)
        return page_response(page.instruments_page(await markets_html(market, maturity), market, maturity))

    @router.get(page.LIVE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def instruments_page_live(market: str | None = Query(None),
                                    maturity: str | None = Query(None)) -> HTMLResponse:
        try:
            market, maturity = check_selection(market, maturity)
        except BadSelection as error:
            return fragment_response(f'<p class="note">{esc(error)}</p>', 400)
        return fragment_response(await markets_html(market, maturity))

    @router.get(page.PNG_PATH, include_in_schema=False)
    async def ladder_picture(market: str | None = Query(None), maturity: str | None = Query(None)) -> Response:
        """The current listing's ladder of one maturity (``v``, the listing time, only defeats caches)."""
        try:
            market, maturity = check_selection(market, maturity)
        except BadSelection as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        if market is None or maturity is None:
            return JSONResponse({"error": "market and maturity: both required"}, status_code=400)
        try:
            found = await states()
        except NoReply as error:
            return JSONResponse({"error": f"instrument service unavailable: {error}"}, status_code=503)
        listing = next((s.listing for s in found if s.market == market), None)
        if listing is None:
            return JSONResponse({"error": f"market {market} has no listing"}, status_code=404)
        key = (market, maturity, listing.updated_ms)
        picture = pictures.get(key)
        if picture is None:
            try:
                picture = await trio.to_thread.run_sync(page.ladder_picture, listing, maturity)
            except ValueError as error:  # inputs that listed once build again; said plainly if not
                return JSONResponse({"error": f"{market} {maturity}: cannot draw: {error}"}, status_code=500)
            if picture is None:
                return JSONResponse({"error": f"{market} {maturity} is not listed"}, status_code=404)
            pictures[key] = picture
            while len(pictures) > PICTURES_CACHED:
                pictures.popitem(last=False)
        return Response(picture, media_type="image/png",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return router
