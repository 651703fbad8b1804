"""Browser test: headless Chromium opens every page of the offline site with the network blocked except loopback.

Each page must load with zero console errors and zero failed requests; the traceability table and at least one
chart (an SVG figure) must be visible, and mermaid diagrams must render to SVG.
"""

import functools, http.server, os, shutil, threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get('MHHS_CHROMIUM', '/usr/bin/chromium')
pytestmark = pytest.mark.browser


def _need_chromium():
    if not Path(CHROMIUM).exists():
        msg = f"Chromium not found at {CHROMIUM}: run tools/bootstrap (installs Debian's chromium) or set MHHS_CHROMIUM"
        if os.environ.get('CI'):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build the site once into a temporary folder (results of the notebook tests fill the matrix when present)."
    from mhhs_ref.docs import build_site

    out = tmp_path_factory.mktemp('site') / '_site'
    results = os.environ.get('MHHS_TRACE_RESULTS')
    return build_site(ROOT, out=out, results=results if results and Path(results).exists() else None)


@pytest.fixture(scope='module')
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope='module')
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                '--headless',
                '--no-sandbox',
                '--disable-gpu',
                '--disable-quic',
                '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update',
                '--disable-sync',
            ],
        )
        yield b
        b.close()


def _pages(site):
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob('*.html')
        if '_mermaid' not in p.parts and 'site_libs' not in p.parts
    )


def _open(browser, url):
    "Open `url` with every non-loopback request blocked; return (page, console errors, failed requests)."
    ctx = browser.new_context()
    errors, failed = [], []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith('data:') or host in ('127.0.0.1', 'localhost'):
            r.continue_()
        else:
            failed.append(f"blocked external request {r.request.url}")
            r.abort()

    ctx.route('**/*', route)
    page = ctx.new_page()
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.on('requestfailed', lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on('response', lambda r: failed.append(f"{r.url} HTTP {r.status}") if r.status >= 400 else None)
    page.goto(url, wait_until='networkidle')
    return page, errors, failed


def test_every_page_loads_cleanly(site, server, browser):
    pages = _pages(site)
    assert {'index.html', 'core.html', 'time.html', 'design.html', 'isd.html', 'traceability.html'} <= set(pages), pages
    report = {}
    for rel in pages:
        page, errors, failed = _open(browser, f"{server}/{rel}")
        if errors or failed:
            report[rel] = errors + failed
        page.context.close()
    assert not report, report


def test_traceability_table_and_chart_visible(site, server, browser):
    page, errors, failed = _open(browser, f"{server}/traceability.html")
    table = page.locator('#trace-matrix')
    assert table.is_visible()
    n = table.locator('tbody tr').count()
    assert n >= 150, n
    page.select_option('#trace-status', 'implemented')
    shown = page.locator('#trace-matrix tbody tr:visible').count()
    assert 0 < shown < n
    assert 'items' in page.locator('#trace-count').inner_text()
    page.context.close()
    page, errors, failed = _open(browser, f"{server}/time.html")
    charts = page.locator('.cell-output-display svg')
    assert charts.count() >= 1 and charts.first.is_visible()
    page.context.close()


def test_mermaid_renders_offline(site, server, browser):
    page, errors, failed = _open(browser, f"{server}/index.html")
    page.wait_for_selector('pre.mermaid svg', timeout=15000)
    assert page.locator('pre.mermaid svg').first.is_visible()
    assert not errors and not failed, errors + failed
    page.context.close()


def test_openapi_published(site):
    "The DIP's OpenAPI document is published beside the pages."
    import json

    spec = json.loads((site / 'dip-openapi.json').read_text())
    assert '/dip-channel/{id}' in spec['paths'] and '/statusmessage' in spec['paths']


def test_api_links_resolve(site):
    "nbdev's API doc links (core.html#…) point at pages that exist."
    import re

    missing = set()
    for p in site.glob('*.html'):
        for href in re.findall(r'href="([a-z_0-9]+\.html)(?:#[^"]*)?"', p.read_text()):
            if not (site / href).exists():
                missing.add((p.name, href))
    assert not missing, sorted(missing)


def test_stepper_steps_on_the_static_page(site, server, browser):
    "A process page's stepper works without a kernel: 'next' shows the second card, 'last' the final one."
    page = browser.new_page()
    page.goto(f"{server}/bp001_change_of_supplier.html")
    stepper = page.locator('.mhhs-stepper').first
    visible = lambda: stepper.locator('.mhhs-card:visible').first.inner_text()
    assert 'Step 0 ' in visible() and 'Pending' in visible()
    stepper.get_by_role('button', name='next ▶').click()
    assert 'Step 1 ' in visible() and 'IF-002 GainMPANInfo' in visible()
    stepper.get_by_role('button', name='last »').click()
    assert 'IF-041' in visible()
    stepper.get_by_role('button', name='◀ previous').click()
    assert 'Step 1 ' not in visible()
    page.close()
