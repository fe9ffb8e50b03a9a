"""The engine's operator pages: the home page ``/``, the helpers every page uses, ``/static/``.

Pages are HTML rendered in Python, where every data-derived string is escaped. The parts
that change are *live regions* that ``/static/live.js`` keeps fresh: it re-fetches a
region's HTML fragment on a timer or when a websocket pushes, and turns pushed JSON into
table rows with textContent only. So no page carries inline code, and one
Content-Security-Policy allows scripts, styles, fetches, websockets and pictures from the
engine alone. Pages read the engine's in-memory state, never a venue.

Capabilities build their pages with these helpers and tag their page routes ``PAGES_TAG``;
the home page links every such route, so the engine names no capability.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

PAGES_TAG = "pages"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
STATIC_TYPES = {"live.js": "text/javascript; charset=utf-8", "pages.css": "text/css; charset=utf-8"}
HOME_INTERVAL_MS = 1000
GOOD_STATES = ("running", "completed")
PASSING_STATES = ("starting", "stopping")  # on the way somewhere: neither good nor bad yet
API_LINKS = (("/health", "Health (JSON)"), ("/metrics", "Metrics (Prometheus text)"), ("/docs", "API documentation"))


# --------------------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    """Any value as escaped HTML text (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def fmt_time(ms: Any) -> str:
    """Unix milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC; ``-`` for None; anything else escaped."""
    if ms is None:
        return "-"
    if not is_number(ms):
        return esc(ms)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return esc(ms)


def fmt_number(value: Any, digits: int = 2) -> str:
    """Thousands separators; ``-`` for None; non-numbers escaped as they are."""
    if value is None:
        return "-"
    if not is_number(value):
        return esc(value)
    return f"{value:,.{digits}f}"


def query_url(path: str, **params: Any) -> str:
    """``path?a=1&b=2`` with the parameters that are not None, URL-encoded (escape it for HTML)."""
    given = {name: value for name, value in params.items() if value is not None}
    return f"{path}?{urlencode(given)}" if given else path


# --------------------------------------------------------------------------- page parts


def live_region(src: str, inner: str, *, interval_ms: int, ws: str | None = None, element_id: str | None = None) -> str:
    """A block that live.js refreshes from ``src`` every ``interval_ms`` and whenever ``ws`` pushes."""
    attributes = [f'data-live-src="{esc(src)}"', f'data-live-interval-ms="{int(interval_ms)}"']
    if ws is not None:
        attributes.append(f'data-live-ws="{esc(ws)}"')
    if element_id is not None:
        attributes.insert(0, f'id="{esc(element_id)}"')
    return f'<div class="live" {" ".join(attributes)}>{inner}</div>'


def page_document(title: str, body: str, *, heading: str | None = None) -> str:
    """A whole page: the shared stylesheet and script, a link home and the live status."""
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        '<link rel="stylesheet" href="/static/pages.css">',
        '<script src="/static/live.js" defer></script></head><body>',
        '<nav><a href="/">Engine home</a><span data-live-status>live updates starting</span></nav>',
        f"<h1>{esc(heading if heading is not None else title)}</h1>",
        body,
        "</body></html>",
    ])


def page_response(text: str, status_code: int = 200, csp: str = PAGE_CSP) -> HTMLResponse:
    return HTMLResponse(text, status_code=status_code, headers={**PAGE_HEADERS, "Content-Security-Policy": csp})


def fragment_response(text: str, status_code: int = 200) -> HTMLResponse:
    """A live region's content (fetched by live.js, never a page of its own)."""
    return HTMLResponse(text, status_code=status_code, headers={**PAGE_HEADERS, "Content-Security-Policy": PAGE_CSP})


def error_page(title: str, message: str, status_code: int) -> HTMLResponse:
    return page_response(page_document(title, f'<p class="note">{esc(message)}</p>'), status_code)


# --------------------------------------------------------------------------- the home page


def _state_class(state: Any) -> str:
    if state in GOOD_STATES:
        return "ok"
    return "muted" if state in PASSING_STATES else "bad"


def _actor_rows(actors: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f'<tr data-actor="{esc(a.get("name"))}"><td class="l">{esc(a.get("name"))}</td>'
            f'<td class="l state {_state_class(a.get("state"))}">{esc(a.get("state"))}</td>'
            f'<td class="restarts">{esc(a.get("restarts"))}</td><td class="l">{fmt_time(a.get("since_ms"))}</td>'
            f'<td class="wrap error">{esc(a.get("last_error") or "")}</td></tr>' for a in actors]


def _component_rows(components: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f'<tr data-component="{esc(c.get("name"))}"><td class="l">{esc(c.get("name"))}</td>'
            f'<td class="l state {"ok" if c.get("ok") else "bad"}">{"ok" if c.get("ok") else "not ok"}</td>'
            f'<td class="l">{fmt_time(c.get("since_ms"))}</td><td class="wrap detail">{esc(c.get("detail") or "")}</td>'
            f"</tr>" for c in components]


def render_health(document: Mapping[str, Any]) -> str:
    """The live part of the home page, from the ``GET /health`` document."""
    actors = [a for a in document.get("actors") or () if isinstance(a, Mapping)]
    components = [c for c in document.get("components") or () if isinstance(c, Mapping)]
    redis = document.get("redis") if isinstance(document.get("redis"), Mapping) else {}
    status = document.get("status")
    connected = bool(redis.get("connected"))
    parts = [
        '<div class="facts">',
        f'<span>engine <b id="engine-status" class="{"ok" if status == "ok" else "bad"}">{esc(status)}</b></span>',
        f'<span>at <b>{fmt_time(document.get("ts"))}</b> UTC</span>',
        f'<span>Redis <b class="{"ok" if connected else "bad"}">{"connected" if connected else "unreachable"}</b>, '
        f'{fmt_number(redis.get("pending_ops"), 0)} writes pending, {fmt_number(redis.get("dropped_ops"), 0)} dropped'
        f'{", last error: " + esc(redis.get("last_error")) if redis.get("last_error") and not connected else ""}'
        f"</span></div>",
        f"<h2>Actors: {len(actors)}</h2>",
        '<table id="actors"><thead><tr><th class="l">actor</th><th class="l">state</th><th>restarts</th>'
        '<th class="l">since (UTC)</th><th class="l">last error</th></tr></thead><tbody>',
        *_actor_rows(actors),
        "</tbody></table>",
        f"<h2>Health components: {len(components)}</h2>",
    ]
    if components:
        parts += ['<table id="components"><thead><tr><th class="l">component</th><th class="l">state</th>'
                  '<th class="l">since (UTC)</th><th class="l">detail</th></tr></thead><tbody>',
                  *_component_rows(components), "</tbody></table>"]
    else:
        parts.append('<p class="muted">none reported</p>')
    return "\n".join(parts)


def render_home(document: Mapping[str, Any], links: Iterable[tuple[str, str]], title: str = "Trading engine") -> str:
    """The home page: links to every operator page, then the live actor and component tables."""
    pages = [f'<li><a href="{esc(href)}">{esc(label)}</a></li>' for href, label in links]
    api = [f'<li><a href="{esc(href)}">{esc(label)}</a></li>' for href, label in API_LINKS]
    body = "\n".join([
        "<h2>Pages</h2>",
        f'<ul id="pages">{"".join(pages)}</ul>' if pages else '<p class="muted">no operator pages mounted</p>',
        f'<ul id="api">{"".join(api)}</ul>',
        live_region("/pages/home/live", render_health(document), interval_ms=HOME_INTERVAL_MS, element_id="health"),
    ])
    return page_document(title, body)


def page_links(openapi: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, title) of every GET operation tagged PAGES_TAG that needs no path parameter, from the
    app's OpenAPI document (the public view of every mounted route)."""
    links: list[tuple[str, str]] = []
    for path, operations in (openapi.get("paths") or {}).items():
        get = operations.get("get") if isinstance(operations, Mapping) else None
        if isinstance(get, Mapping) and PAGES_TAG in (get.get("tags") or ()) and "{" not in path and path != "/":
            links.append((path, str(get.get("summary") or path)))
    return links


# --------------------------------------------------------------------------- routes


def static_text(name: str) -> str:
    """One of the engine's static files (package data, so a non-editable install has them)."""
    return resources.files("engine").joinpath("static", name).read_text(encoding="utf-8")


def pages_router(health_document: Callable[[], Mapping[str, Any]], links: Callable[[], list[tuple[str, str]]],
                 title: str = "Trading engine") -> APIRouter:
    """``/`` (home), ``/pages/home/live`` (its live part) and ``/static/{name}``."""
    router = APIRouter()
    static = {name: static_text(name) for name in STATIC_TYPES}  # read once: a missing file fails start-up

    @router.get("/", response_class=HTMLResponse, summary="Operator home page: actors, health, links to every page",
                tags=[PAGES_TAG])
    async def home() -> HTMLResponse:
        return page_response(render_home(health_document(), links(), title))

    @router.get("/pages/home/live", response_class=HTMLResponse, include_in_schema=False)
    async def home_live() -> HTMLResponse:
        return fragment_response(render_health(health_document()))

    @router.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        if name not in static:
            raise HTTPException(status_code=404, detail=f"no static file {name!r:.40}")
        return Response(static[name], media_type=STATIC_TYPES[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return router
