"""Browser test: headless Chromium opens every page of the offline site with the network blocked except loopback.

Each page must load with zero console errors and zero failed requests; the traceability table and at least one
chart (an SVG figure) must be visible, and mermaid diagrams must render to SVG. At a laptop's 1366 px the matrix has
no clipped column, an item's permalink scrolls to its row, every link of the matrix (code and tests) resolves to a
page and an anchor that exist; screenshots of the matrix, a permalink and a BP page are kept in the test's tmp dir.
A second build, as from a fresh clone (no results), says "not run".
"""

import functools, http.server, os, re, threading
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

    if os.environ.get('MHHS_TEST_SITE'):  # a site already built with `mhhs-ref docs --out DIR`, checked as it is
        return Path(os.environ['MHHS_TEST_SITE'])
    out = tmp_path_factory.mktemp('site') / '_site'
    results = os.environ.get('MHHS_TRACE_RESULTS')
    return build_site(ROOT, out=out, results=results if results and Path(results).exists() else None)


@pytest.fixture(scope='module')
def shots(tmp_path_factory):
    "Where the screenshots go (the test's tmp dir)."
    return tmp_path_factory.mktemp('screenshots')


LAPTOP = {'width': 1366, 'height': 900}


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


def _open(browser, url, viewport=None):
    "Open `url` with every non-loopback request blocked; return (page, console errors, failed requests)."
    ctx = browser.new_context(viewport=viewport or LAPTOP)
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
    page.select_option('#trace-status', '')
    page.fill('#trace-text', 'change of supplier')
    found = page.locator('#trace-matrix tbody tr:visible').count()
    assert 0 < found < 20 and page.locator('#BP001').is_visible(), found
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
    assert re.search(r'Step [01] ', visible()) and 'Pending' in visible()
    stepper.get_by_role('button', name=re.compile('next')).click()
    assert 'IF-002 GainMPANInfo' in visible()
    stepper.get_by_role('button', name=re.compile('last')).click()
    last = visible()
    assert 'IF-041' in last
    stepper.get_by_role('button', name=re.compile('previous')).click()
    assert visible() != last
    page.close()


def test_stepper_counts_from_one_and_marks_the_diagram(site, server, browser):
    "The stepper page's run: 'Step 1 of N' first, 'Step N of N' last, the current message marked in its diagram."
    page, errors, failed = _open(browser, f"{server}/stepper.html")
    stepper = page.locator('.mhhs-stepper').last
    visible = lambda: stepper.locator('.mhhs-card:visible').first.inner_text()
    m = re.search(r'Step (\d+) of (\d+)', visible())
    assert m and m.group(1) == '1', visible()
    page.wait_for_selector('.mhhs-stepper pre.mermaid svg', timeout=15000)
    stepper.get_by_role('button', name=re.compile('next')).click()
    page.wait_for_timeout(200)
    marked = stepper.locator('text.mhhs-now')
    assert marked.count() >= 1 and marked.first.text_content().startswith(visible().split('message ')[1].split(' ')[0])
    stepper.get_by_role('button', name=re.compile('last')).click()
    m = re.search(r'Step (\d+) of (\d+)', visible())
    assert m.group(1) == m.group(2), visible()
    assert not errors and not failed, errors + failed
    page.context.close()


_COLUMNS = ('id', 'kind', 'item, source and status', 'implemented by', 'tests', 'last result')


def test_matrix_readable_at_1366(site, server, browser, shots):
    "Every column of the matrix lies inside the window at 1366 px, nothing overlaps it, and print shows it all."
    page, errors, failed = _open(browser, f"{server}/traceability.html")
    page.locator('.trace-filters').scroll_into_view_if_needed()
    heads = page.eval_on_selector_all(
        '#trace-matrix thead th',
        'hs => hs.map(h => [h.textContent, h.getBoundingClientRect().left, h.getBoundingClientRect().right])',
    )
    assert tuple(h for h, _, _ in heads) == _COLUMNS
    assert all(0 <= left and right <= LAPTOP['width'] for _, left, right in heads), heads
    assert page.evaluate('document.documentElement.scrollWidth') <= LAPTOP['width']
    box = page.locator('#trace-matrix').bounding_box()
    margin = page.locator('#quarto-margin-sidebar')
    if margin.count() and margin.is_visible():  # a table of contents, if any, stays clear of the matrix
        m = margin.bounding_box()
        assert m['x'] >= box['x'] + box['width'] or m['y'] >= box['y'] + box['height'], (m, box)
    assert 'Results:' in page.locator('.trace-evidence').inner_text() or 'not run' in page.content()
    page.screenshot(path=str(shots / 'matrix-1366.png'))
    page.emulate_media(media='print')
    assert not page.locator('.trace-filters').is_visible()
    w = page.evaluate('document.querySelector("#trace-matrix").getBoundingClientRect().right')
    assert w <= LAPTOP['width'] + 1, w
    page.emulate_media(media='screen')
    assert not errors and not failed, errors + failed
    page.context.close()


def test_permalink_scrolls_to_and_marks_its_row(site, server, browser, shots):
    page, errors, failed = _open(browser, f"{server}/traceability.html#BP001")
    row = page.locator('#BP001')
    page.wait_for_function(
        '() => { const r = document.getElementById("BP001").getBoundingClientRect();'
        ' return r.top >= 0 && r.bottom <= innerHeight; }',
        timeout=10000,
    )
    assert 'trace-hit' in row.get_attribute('class')
    assert row.evaluate('e => getComputedStyle(e).backgroundColor') not in ('rgba(0, 0, 0, 0)', 'transparent')
    assert 'bp001_change_of_supplier' in row.locator('td').nth(3).inner_text()  # the BP's own notebook
    page.screenshot(path=str(shots / 'permalink-BP001.png'))
    page.context.close()
    page, errors, failed = _open(browser, f"{server}/bp001_change_of_supplier.html")
    page.screenshot(path=str(shots / 'bp001-1366.png'))
    assert page.evaluate('document.documentElement.scrollWidth') <= LAPTOP['width']
    seq = page.locator('pre.mermaid').first  # a tall diagram scrolls inside its box, with a visible scroll bar
    assert seq.evaluate('e => e.scrollHeight <= e.clientHeight + 2 || getComputedStyle(e).overflowY === "auto"')
    page.context.close()


def _anchors(site: Path, rel: str, cache: dict) -> set:
    if rel not in cache:
        p = site / rel
        cache[rel] = set(re.findall(r'\bid="([^"]+)"', p.read_text(errors='ignore'))) if p.exists() else None
    return cache[rel]


def test_every_matrix_link_resolves(site):
    "Each code link and each test link of the matrix opens a page that exists, at an anchor that exists."
    text = (site / 'traceability.html').read_text()
    table = text[text.index('id="trace-matrix"') :]
    cache, bad, tests = {}, [], 0
    for href in re.findall(r'href="([^"#]+\.html)(?:#([^"]*))?"', table):
        rel, anchor = href
        if rel.startswith('http'):
            continue
        ids = _anchors(site, rel, cache)
        if ids is None or (anchor and anchor not in ids):
            bad.append(f'{rel}#{anchor}')
    for cell in re.findall(r'<td class="trace-tests">(.*?)</td>', table):
        tests += cell.count('<a ')
    assert not bad, bad[:20]
    assert tests > 0 or 'No test results were given' in text


def test_register_glossary_changelog_pages(site, server, browser):
    """The navbar's 'Design register' opens the list of items, with a working filter and the register as a CSV
    download (byte for byte the file); the glossary and the changelog are pages of their own with their content."""
    from mhhs_ref.design import REGISTER_PATH

    page, errors, failed = _open(browser, f"{server}/index.html")
    page.get_by_role('link', name='Design register').first.click()
    page.wait_for_load_state('networkidle')
    assert page.url.endswith('register.html')
    rows = page.locator('#reg-table tbody tr')
    assert rows.count() >= 150
    page.fill('#reg-text', 'REG1024')
    assert 1 <= page.locator('#reg-table tbody tr:visible').count() < 10 and page.locator('#REG1024').is_visible()
    with page.expect_download() as dl:
        page.locator('#reg-csv').click()
    assert dl.value.suggested_filename == 'design_register.csv'
    assert Path(dl.value.path()).read_bytes() == REGISTER_PATH.read_bytes()
    assert (site / 'design_register.csv').read_bytes() == REGISTER_PATH.read_bytes()  # also at a plain address
    footer = page.locator('footer').inner_text()
    assert 'DIP API v2.1.0' in footer and 'mhhs_ref' in footer, footer
    assert not errors and not failed, errors + failed
    page.context.close()
    page, errors, failed = _open(browser, f"{server}/index.html")
    page.get_by_role('link', name='Glossary').first.click()
    page.wait_for_load_state('networkidle')
    assert page.url.endswith('glossary.html') and page.locator('dl.glossary dt').count() >= 15
    assert page.locator('dt#mpan').is_visible() and page.locator('dt#gsp-group').is_visible()
    page.get_by_role('link', name='Changelog').first.click()
    page.wait_for_load_state('networkidle')
    assert page.url.endswith('changelog.html')
    entries = page.locator('main li')
    assert entries.count() >= 1 and re.match(r'\d{4}-\d{2}-\d{2} ', entries.first.inner_text()), entries.count()
    assert not errors and not failed, errors + failed
    page.context.close()
    assert 'glossary.html#mpan' in (site / 'bp001_change_of_supplier.html').read_text()


def _hrefs(text: str):
    return re.findall(r'<a\b[^>]*?\bhref="([^"]*)"', text)


# Links known to be dead, each with its reason; none at present.
KNOWN_DEAD: set[str] = set()


def test_every_internal_link_resolves(site):
    """Every link between the site's own pages (navbar, sidebar, footer, prose, API docs, matrix) opens a page that
    exists, at an anchor that exists."""
    from urllib.parse import unquote

    cache, bad, n = {}, set(), 0
    for rel in _pages(site):
        text = (site / rel).read_text(errors='ignore')
        here = Path(rel).parent
        for href in _hrefs(text):
            if re.match(r'^(https?:|mailto:|data:|javascript:)', href) or not href:
                continue
            path, _, anchor = href.partition('#')
            target = os.path.normpath(here / unquote(path)) if path else rel
            if target.endswith('/') or (site / target).is_dir():
                target = os.path.join(target, 'index.html')
            n += 1
            if target.startswith('..') or not (site / target).is_file():
                bad.add(f'{rel} -> {href}')
            elif anchor and target.endswith('.html') and anchor not in _anchors(site, target, cache):
                bad.add(f'{rel} -> {href}')
    assert n > 1000, n
    assert not bad - KNOWN_DEAD, sorted(bad - KNOWN_DEAD)[:40]


def _kinds_sample():
    "One item of each kind of the register, plus the items a regulator is most likely to look up."
    from mhhs_ref.design import load_register

    reg = load_register()
    ids = ['BP001', 'REG1024'] + [g.id.iloc[0] for _, g in reg.groupby('kind')]
    return [i for i in dict.fromkeys(ids) if i in set(reg.id)]


@pytest.mark.parametrize('item', _kinds_sample())
def test_item_permalink(site, server, browser, item):
    "`traceability.html#ID` scrolls to the item's row and marks it, for an item of every kind."
    page, errors, failed = _open(browser, f"{server}/traceability.html#{item}")
    page.wait_for_function(
        f'() => {{ const r = document.getElementById("{item}").getBoundingClientRect();'
        ' return r.top >= 0 && r.bottom <= innerHeight; }',
        timeout=10000,
    )
    row = page.locator(f'[id="{item}"]')
    assert 'trace-hit' in row.get_attribute('class')
    assert row.locator('td').first.inner_text().strip() == item
    assert not errors and not failed, errors + failed
    page.context.close()


def _cell_text(site: Path, rel: str, anchor: str) -> str:
    "The text of the cell that follows an anchor `cell-…` on a page, up to the next cell anchor."
    text = (site / rel).read_text(errors='ignore')
    start = text.index(f'id="{anchor}"')
    end = text.find('class="cell-anchor"', start + len(anchor) + 30)  # the next cell's anchor, not this one's
    return re.sub(r'<[^>]+>', '', text[start : end if end > 0 else None])


def test_every_test_link_shows_its_item(site):
    """Each test link of the matrix opens the cell or the test file line that verifies the item: the item's id is
    in that cell (or within a few lines of that line), or the cell verifies items it computes (a loop over the
    catalogue, a parametrised test) — not merely somewhere on the page. A link to a page without an anchor (a cell
    the site hides) is counted and must stay rare."""
    import html as h

    text = (site / 'traceability.html').read_text()
    table = text[text.index('id="trace-matrix"') :]
    bad, n, whole_page = [], 0, 0
    for item, tests in re.findall(r'<tr class="trace-row" id="([^"]+)".*?<td class="trace-tests">(.*?)</td>', table):
        for href, label in re.findall(r'<a href="([^"]+)">([^<]*)</a>', tests):
            rel, _, anchor = href.partition('#')
            n += 1
            if '✓' not in label:  # a failed result may come from a test since rewritten: the matrix marks it ✗
                continue
            if anchor.startswith('cell-'):
                near = h.unescape(_cell_text(site, rel, anchor))
            elif anchor.startswith('L'):
                lines = (site / rel).read_text(errors='ignore').split('class="ln"')
                k = int(anchor[1:])
                near = h.unescape(re.sub(r'<[^>]+>', '', ' '.join(lines[max(1, k - 12) : k + 3])))
            else:
                whole_page += 1
                continue
            if item not in near and not re.search(r"verifies\(\s*[^'\"\s)]", near):
                bad.append(f'{item}: {href}')
    assert n > 0 or 'No test results were given' in text
    assert not bad, (len(bad), bad[:20])
    assert whole_page <= max(10, n // 10), (whole_page, n)


def test_regulator_trail_reg1024(site, server, browser, shots):
    """The trail a regulator follows, clicked as they would: the register, the item's id, its row in the matrix, its
    first test link, the cell that proves it, with the result of the last run."""
    page, errors, failed = _open(browser, f"{server}/index.html")
    page.get_by_role('link', name='Design register').first.click()
    page.wait_for_load_state('networkidle')
    page.fill('#reg-text', 'REG1024')
    page.locator('#REG1024 a').first.click()
    page.wait_for_load_state('networkidle')
    assert page.url.endswith('traceability.html#REG1024'), page.url
    row = page.locator('#REG1024')
    page.wait_for_function(
        '() => { const r = document.getElementById("REG1024").getBoundingClientRect();'
        ' return r.top >= 0 && r.bottom <= innerHeight; }',
        timeout=10000,
    )
    assert 'Retrospection limit' in row.inner_text()
    result = row.locator('td').last.inner_text()
    page.screenshot(path=str(shots / 'trail-REG1024-matrix.png'))
    tests = row.locator('td.trace-tests a')
    if 'No test results were given' in page.locator('.trace-evidence').inner_text():
        assert result == 'not run'
        page.context.close()
        return
    if result == 'no test' and tests.count() == 0:  # results of a partial run, without REG1024's tests
        page.context.close()
        pytest.skip('the results given hold no test of REG1024: build the site after a full pytest run')
    assert result == 'passed' and tests.count() >= 1, (result, tests.count())
    first = tests.first.get_attribute('href')
    tests.first.click()
    page.wait_for_load_state('networkidle')
    assert page.url.endswith(first), (page.url, first)
    anchor = first.split('#')[1]
    page.wait_for_function(  # the anchor sits 5rem above its cell, clear of the fixed navbar
        f'() => {{ const r = document.getElementById("{anchor}").getBoundingClientRect();'
        ' return r.top >= -2 && r.top <= innerHeight - 120; }',
        timeout=10000,
    )
    assert 'REG1024' in _cell_text(site, first.split('#')[0], anchor)
    cell = page.locator(f'p:has(> [id="{anchor}"]) + *')
    assert cell.is_visible() and 'REG1024' in cell.inner_text()
    assert cell.evaluate('e => getComputedStyle(e).outlineStyle') == 'solid'  # the proving cell is marked
    page.screenshot(path=str(shots / 'trail-REG1024-test.png'))
    assert not errors and not failed, errors + failed
    page.context.close()


@pytest.fixture(scope='module')
def fresh_site(tmp_path_factory):
    "The site as a fresh clone builds it: no test results at all."
    from mhhs_ref.docs import build_site

    root = Path(os.environ.get('MHHS_DOCS_ROOT') or ROOT)  # a copy of the project may be given to build from
    return build_site(root, out=tmp_path_factory.mktemp('fresh') / '_site', results=False)


def test_fresh_clone_says_not_run(fresh_site):
    text = (fresh_site / 'traceability.html').read_text()
    assert 'No test results were given' in text
    results = re.findall(r'<td class="result-([a-z-]+)"', text)
    assert results and set(results) == {'not-run'}, set(results)
    assert 'tests not run for this build' in text
