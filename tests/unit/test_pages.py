"""engine.pages: the home page's rendering, the links it finds, the shared page shell (pure)."""

from __future__ import annotations

import re

from engine.pages import (
    PAGE_CSP, PAGES_TAG, STATIC_TYPES, fmt_time, live_region, page_document, page_links, query_url, render_health,
    render_home, static_text,
)

HOSTILE = '<script>alert(1)</script>"><img src=x>'


def _health(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "status": "ok", "ts": 1_717_000_000_123,
        "actors": [{"name": "api", "state": "running", "restarts": 0, "last_error": None,
                    "since_ms": 1_717_000_000_000},
                   {"name": "mm_BTCUSDT", "state": "restarting", "restarts": 2, "last_error": "ValueError: boom",
                    "since_ms": 1_717_000_001_000}],
        "components": [{"name": "book:binance", "ok": False, "detail": "stale", "since_ms": 1_717_000_000_500}],
        "redis": {"connected": True, "pending_ops": 3, "dropped_ops": 0, "generation": 0, "last_error": None},
    }
    doc.update(changes)
    return doc


def test_health_renders_every_actor_and_component_with_its_state() -> None:
    html = render_health(_health())
    assert re.search(r'<tr data-actor="mm_BTCUSDT">.*?<td class="l state bad">restarting</td>'
                     r'<td class="restarts">2</td>.*?ValueError: boom', html)
    assert '<td class="l state ok">running</td>' in html
    assert '<tr data-component="book:binance">' in html and '<td class="l state bad">not ok</td>' in html
    assert "Actors: 2" in html and "Health components: 1" in html
    assert "2024-05-29 16:26:40" in html  # the engine's time, UTC
    assert '<b class="ok">connected</b>, 3 writes pending' in html


def test_health_escapes_every_data_derived_string() -> None:
    html = render_health(_health(
        status=HOSTILE,
        actors=[{"name": HOSTILE, "state": HOSTILE, "restarts": HOSTILE, "last_error": HOSTILE, "since_ms": HOSTILE}],
        components=[{"name": HOSTILE, "ok": True, "detail": HOSTILE, "since_ms": None}],
        redis={"connected": False, "pending_ops": 0, "dropped_ops": 0, "last_error": HOSTILE}))
    assert "<script" not in html and "<img" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x&gt;") >= 8
    assert "unreachable" in html


def test_health_without_components_or_odd_entries() -> None:
    html = render_health({"status": "ok", "actors": ["not a mapping"], "components": None, "redis": None})
    assert "Actors: 0" in html and "none reported" in html


def test_page_links_are_the_tagged_get_pages_without_path_parameters() -> None:
    openapi = {"paths": {
        "/": {"get": {"tags": [PAGES_TAG], "summary": "home"}},
        "/pages/mm": {"get": {"tags": [PAGES_TAG], "summary": "Market making"}},
        "/pages/mm/{pair}": {"get": {"tags": [PAGES_TAG], "summary": "One pair"}},
        "/debug/open-interest": {"get": {"tags": [PAGES_TAG]}},
        "/api/mm": {"get": {"summary": "JSON"}},
        "/instruments": {"post": {"tags": [PAGES_TAG], "summary": "not a page"}},
    }}
    assert page_links(openapi) == [("/pages/mm", "Market making"), ("/debug/open-interest", "/debug/open-interest")]


def test_the_page_shell_loads_only_the_engines_own_script_and_style() -> None:
    page = page_document(HOSTILE, "<p>body</p>")
    assert page.startswith("<!DOCTYPE html>")
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/live.js" defer>']
    assert '<link rel="stylesheet" href="/static/pages.css">' in page and "<style" not in page
    assert "<title>&lt;script&gt;" in page and "<h1>&lt;script&gt;" in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers either
    assert "default-src 'none'" in PAGE_CSP and "script-src 'self'" in PAGE_CSP and "unsafe" not in PAGE_CSP


def test_home_links_and_live_region() -> None:
    page = render_home(_health(), [("/pages/mm", "Market <making>")])
    assert '<a href="/pages/mm">Market &lt;making&gt;</a>' in page
    assert 'data-live-src="/pages/home/live"' in page and 'data-live-interval-ms="1000"' in page
    assert '<a href="/health">' in page and '<a href="/metrics">' in page
    assert "no operator pages mounted" in render_home(_health(), [])


def test_live_region_and_query_urls_are_escaped() -> None:
    region = live_region(query_url("/pages/x", a="1&2", b=None, c='"q"'), "<i>inner</i>", interval_ms=500,
                         ws="/ws?s=<x>", element_id='a"b')
    assert region == ('<div class="live" id="a&quot;b" data-live-src="/pages/x?a=1%262&amp;c=%22q%22" '
                      'data-live-interval-ms="500" data-live-ws="/ws?s=&lt;x&gt;"><i>inner</i></div>')
    assert query_url("/p") == "/p"


def test_time_formats() -> None:
    assert fmt_time(0) == "1970-01-01 00:00:00" and fmt_time(None) == "-" and fmt_time("<x>") == "&lt;x&gt;"
    assert fmt_time(float("inf")) == "inf" and fmt_time(10**20) == str(10**20)


def test_static_files_are_package_data() -> None:
    for name in STATIC_TYPES:
        assert static_text(name).strip()
    script = static_text("live.js")
    assert "eval(" not in script and "new Function" not in script
    assert "textContent" in script  # pushed rows are text, never markup
