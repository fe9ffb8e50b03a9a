"""The option-chain HTTP and WebSocket API, answered from the chain actor's cache over the bus.

Never calls Dhan and never reads the actor's state directly: every answer is an ``ask`` on
the topics of ``actors.optionchain.topics`` (so a stopped chain service is a 503, not a
hang), and the WebSocket forwards ``UPDATES_TOPIC``. Chain documents travel as the JSON
text the actor wrote; they are spliced into responses, never parsed and re-serialised
(only the operator pages, ``actors.optionchain.page``, parse them to render a table).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from actors.optionchain import page
from actors.optionchain.chain import check_expiry
from actors.optionchain.topics import (
    GET_TOPIC,
    LIST_TOPIC,
    REFRESH_TOPIC,
    UPDATES_TOPIC,
    ChainPublished,
    RefreshAnswer,
)
from engine.actor import ActorContext
from engine.bus import Overflow
from engine.pages import PAGES_TAG, error_page, fragment_response, page_response, query_url
from engine.requests import NoReply, ask
from engine.ws import CLIENT_GONE, WS_POLICY_VIOLATION, serve_push

# A slow WebSocket client holds at most this many pending chains (the latest of each).
WS_QUEUE_CHAINS = 64


class BadInput(ValueError):
    """A request field is missing or malformed: a 400 whose message names the field."""


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _unavailable(error: NoReply) -> JSONResponse:
    """NoReply means no chain actor is serving the bus (not started, busy or crashed)."""
    return _error(503, f"option chain service unavailable: {error}")


def _underlying(value: str | None, required: bool) -> str | None:
    """A non-empty underlying name, or None when optional and absent."""
    if value is None and not required:
        return None
    if value is None or not value.strip():
        raise BadInput("underlying is required (e.g. underlying=NIFTY)" if value is None
                       else "underlying must not be empty")
    return value.strip()


def _expiry(value: str | None, required: bool) -> str | None:
    """A real YYYY-MM-DD date (the form the chain key uses), or None when optional and absent."""
    if value is None and not required:
        return None
    if value is None:
        raise BadInput("expiry is required (YYYY-MM-DD)")
    try:
        return check_expiry(value)
    except ValueError as error:
        raise BadInput(str(error)) from None


def _around(value: str | None) -> int:
    """How many strikes either side of the ATM a page shows: 1..MAX_AROUND, default DEFAULT_AROUND."""
    if value is None:
        return page.DEFAULT_AROUND
    if not value.isdigit() or not 1 <= int(value) <= page.MAX_AROUND:
        raise BadInput(f"around must be an integer in [1, {page.MAX_AROUND}], got {value!r:.40}")
    return int(value)


def _refresh_target(body: bytes) -> str | None:
    """Empty body: every underlying; else exactly ``{"underlying": "<name>"}``."""
    if not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON or UTF-8; nested deeper than the parser goes
        raise BadInput("body must be empty or JSON {\"underlying\": \"<name>\"}") from None
    if not isinstance(parsed, dict):
        raise BadInput("body must be a JSON object {\"underlying\": \"<name>\"}")
    unknown = sorted(set(parsed) - {"underlying"})
    if unknown:
        raise BadInput(f"unknown field(s) {', '.join(unknown)}: the body takes only underlying")
    name = parsed.get("underlying")
    if not isinstance(name, str) or not name.strip():
        raise BadInput("underlying must be a non-empty string (send an empty body to refresh all)")
    return name.strip()


def _refresh_status(answer: RefreshAnswer) -> int:
    """202 accepted; 404 for an unknown underlying; 409 for any other refusal."""
    if answer.accepted:
        return 202
    if (answer.error or "").startswith("unknown underlying"):
        return 404
    return 409


def ws_message(update: ChainPublished) -> str:
    """The push frame; the document is spliced in as written (valid JSON text already)."""
    return (f'{{"type": "optionchain", "underlying": {json.dumps(update.underlying)}, '
            f'"expiry": {json.dumps(update.expiry)}, "chain": {update.document}}}')


def _wanted(underlying: str | None, expiry: str | None) -> Callable[[ChainPublished], bool]:
    """The client's filter: None matches every value."""
    def wanted(update: ChainPublished) -> bool:
        return (underlying is None or update.underlying == underlying) and (expiry is None or update.expiry == expiry)
    return wanted


async def _forward_updates(ctx: ActorContext, websocket: WebSocket, wanted: Callable[[ChainPublished], bool]) -> None:
    """Send matching updates until the subscription ends or the client is gone.

    CONFLATE keyed by chain: while a send waits on a slow client, newer versions of a chain
    replace the pending one, so the client only ever catches up to the latest.
    """
    with ctx.bus.subscribe(UPDATES_TOPIC, maxlen=WS_QUEUE_CHAINS, overflow=Overflow.CONFLATE,
                           key=lambda m: m.key) as updates:
        async for update in updates:
            if wanted(update):
                try:
                    await websocket.send_text(ws_message(update))
                except CLIENT_GONE:
                    return  # the client went away, or we closed it (shutdown)








def optionchain_router(ctx: ActorContext, require_admin: Callable[[Request], None],
                       timeout_s: float = 2.0) -> APIRouter:
    """GET /optionchain/live, GET /optionchain/chains, POST /admin/optionchain/refresh, WS /ws/optionchain,
    and the operator pages GET /pages/optionchain (+ /pages/optionchain/live, their live region)."""
    router = APIRouter()

    @router.get("/optionchain/live", summary="The cached chain of one underlying and expiry (as the actor wrote it)")
    async def live(underlying: str | None = Query(None, description="e.g. NIFTY"),
                   expiry: str | None = Query(None, description="YYYY-MM-DD")) -> Response:
        try:
            name, date = _underlying(underlying, required=True), _expiry(expiry, required=True)
        except BadInput as error:
            return _error(400, str(error))
        try:
            document = await ask(ctx.bus, GET_TOPIC, (name, date), timeout_s)
        except NoReply as error:
            return _unavailable(error)
        if document is None:
            return _error(404, f"no chain {name} {date}", underlying=name, expiry=date)
        return Response(content=document, media_type="application/json")

    @router.get("/optionchain/chains", summary="The chains in the cache, optionally of one underlying")
    async def chains(underlying: str | None = Query(None, description="only this underlying")) -> JSONResponse:
        try:
            name = _underlying(underlying, required=False)
        except BadInput as error:
            return _error(400, str(error))
        try:
            listing = await ask(ctx.bus, LIST_TOPIC, None, timeout_s)
        except NoReply as error:
            return _unavailable(error)
        return JSONResponse({"chains": [c for c in listing if name is None or c["underlying"] == name]})

    @router.post("/admin/optionchain/refresh", summary="Regenerate strikes now: empty body (all) or {\"underlying\"}",
                 dependencies=[Depends(require_admin)])
    async def refresh(request: Request) -> JSONResponse:
        try:
            target = _refresh_target(await request.body())
        except BadInput as error:
            return _error(400, str(error))
        try:
            answer: RefreshAnswer = await ask(ctx.bus, REFRESH_TOPIC, target, timeout_s)
        except NoReply as error:
            return _unavailable(error)
        return JSONResponse(answer.to_json(), status_code=_refresh_status(answer))

    async def page_content(underlying: str | None, expiry: str | None, around: int) -> str:
        """A page's live region: the chain list, or one chain (a note when it is not there)."""
        try:
            if underlying is None and expiry is None:
                listing = await ask(ctx.bus, LIST_TOPIC, None, timeout_s)
                return page.render_chain_list([c for c in listing if isinstance(c, dict)])
            name, date = _underlying(underlying, required=True), _expiry(expiry, required=True)
            document = await ask(ctx.bus, GET_TOPIC, (name, date), timeout_s)
        except NoReply as error:
            return page.notes_html([f"option chain service unavailable: {error}"])
        if document is None:
            return page.notes_html([f"no chain {name} {date} in the cache (not built yet, or not configured)"])
        try:
            parsed = json.loads(document)
        except ValueError as error:
            return page.notes_html([f"the cached chain is not JSON: {error}"])
        return page.render_chain(parsed if isinstance(parsed, dict) else {}, around)

    async def nearest_expiry_page(name: str | None, around: str | None) -> Response:
        """A redirect to the underlying's nearest cached expiry, or a page saying why there is none."""
        try:
            listing = await ask(ctx.bus, LIST_TOPIC, None, timeout_s)
        except NoReply as error:
            return error_page("Option chain", f"option chain service unavailable: {error}", 503)
        expiries = sorted(c["expiry"] for c in listing if isinstance(c, dict) and c.get("underlying") == name)
        if not expiries:
            return error_page("Option chain", f"no chain of {name} in the cache (not built yet, or not configured)",
                              404)
        return RedirectResponse(query_url(page.PAGE_PATH, underlying=name, expiry=expiries[0], around=around),
                                status_code=303)

    @router.get(page.PAGE_PATH, response_class=HTMLResponse, tags=[PAGES_TAG],
                summary="Option chains: the strikes around the ATM, calls and puts, live")
    async def chain_page(underlying: str | None = Query(None, description="e.g. NIFTY; omit for the list"),
                         expiry: str | None = Query(None, description="YYYY-MM-DD"),
                         around: str | None = Query(None, description="strikes either side of the ATM")
                         ) -> Response:
        try:
            width = _around(around)
            if underlying is None and expiry is None:
                return page_response(page.list_page(await page_content(None, None, width)))
            if expiry is None:  # an underlying alone: its nearest expiry in the cache
                return await nearest_expiry_page(_underlying(underlying, required=True), around)
            name, date = _underlying(underlying, required=True), _expiry(expiry, required=True)
        except BadInput as error:
            return error_page("Option chain", str(error), 400)
        assert name is not None and date is not None
        return page_response(page.chain_page(name, date, width, await page_content(name, date, width)))

    @router.get(page.LIVE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def chain_page_live(underlying: str | None = Query(None), expiry: str | None = Query(None),
                              around: str | None = Query(None)) -> HTMLResponse:
        try:
            width = _around(around)
        except BadInput as error:
            return fragment_response(page.notes_html([str(error)]), 400)
        try:
            return fragment_response(await page_content(underlying, expiry, width))
        except BadInput as error:
            return fragment_response(page.notes_html([str(error)]), 400)

    @router.websocket("/ws/optionchain")
    async def updates(websocket: WebSocket) -> None:
        """Pushes every chain update matching ?underlying=&expiry= (both optional)."""
        await websocket.accept()
        query = websocket.query_params
        try:
            wanted = _wanted(_underlying(query.get("underlying"), required=False),
                             _expiry(query.get("expiry"), required=False))
        except BadInput as error:
            await websocket.close(code=WS_POLICY_VIOLATION, reason=str(error))
            return
        await serve_push(websocket, ctx.stopping, lambda: _forward_updates(ctx, websocket, wanted))

    return router
