"""The docs site: `tools/build_docs.py` builds `_docs/` offline (Sphinx + myst-nb fed by nbdev's processors), and the
pages work in a real browser (Debian's headless chromium driven by Playwright): no console errors, no request
leaving 127.0.0.1, maths typeset by the site's own MathJax, figures decoded, search answering, animations and
widget snapshots alive. A small fixture notebook (maths, figure, `to_jshtml` animation, widget state, hidden and
exported cells) is built into a second site so every output kind is checked even before the lessons store theirs.
Screenshots are kept in test-artifacts/.
"""
import base64, io, os, re, shutil, socket, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / '_docs'
CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']

def _run(args, **kw):
    r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, args))} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r

def _ensure_assets():
    if subprocess.run([sys.executable, 'tools/docs_assets.py', '--check'], cwd=ROOT, capture_output=True).returncode:
        if not shutil.which('npm'): pytest.skip('docs assets missing and npm unavailable to fetch them (`make docs` does it)')
        _run(['tools/docs_assets.py'], timeout=600)    # an install step: npm registry, once

def _bd():
    sys.path.insert(0, str(ROOT / 'tools'))
    import build_docs
    return build_docs

@pytest.fixture(scope='session')
def site():
    "The real site, built (incrementally: a fresh build is reused) from nbs/; again if a notebook landed meanwhile."
    pytest.importorskip('myst_nb', reason='docs dev requirements missing: pip install -e ".[dev]"')
    _ensure_assets()
    for _ in range(3):
        before = _bd().notebooks()
        _run(['tools/build_docs.py'], timeout=900)
        if _bd().notebooks() == before: break
    _BUILT[:] = before
    return DOCS

_BUILT = []
@pytest.fixture(scope='session')
def built(site):
    "The notebooks (relative to nbs/) that the site was built from."
    return list(_BUILT)

# ------------------------------------------------------------------------------------------ fixture notebook
def _fixture_nb(path):
    "A notebook whose stored outputs hold every kind the site must render (made in-process: no kernel)."
    import nbformat
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    import ipywidgets as w
    fig, ax = plt.subplots(figsize=(3, 2), dpi=60)
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO(); fig.savefig(buf, format='png'); png = base64.b64encode(buf.getvalue()).decode()
    line, = ax.plot([], [])
    anim = FuncAnimation(fig, lambda i: (line.set_data([0, i], [0, i]), (line,))[1], frames=3)
    jshtml = anim.to_jshtml(fps=5)
    plt.close(fig)
    slider = w.IntSlider(value=3, min=0, max=10, description='steps')
    state = w.Widget.get_manager_state(drop_defaults=True)
    view = {'version_major': 2, 'version_minor': 0, 'model_id': slider.model_id}
    C, M = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    O = nbformat.v4.new_output
    cells = [
        M('# Fixture page\n\n> Every output kind the docs must render'),
        M('Inline $\\bar\\alpha_t = \\prod_{s\\le t}(1-\\beta_s)$ and display\n\n$$x_t = \\sqrt{\\bar\\alpha_t}\\,x_0 + '
          '\\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon$$'),
        C('#| hide\nSECRET_HIDDEN_CELL = 1'),
        C('from difflab.core import bcast\nshow_doc(bcast)'.split('\n', 1)[1]),
        C('plt.plot([0, 1])', outputs=[O('display_data', data={'image/png': png, 'text/plain': '<Figure>'})]),
        C('HTML(anim.to_jshtml())', outputs=[O('display_data', data={'text/html': jshtml, 'text/plain': '<HTML>'})]),
        C('slider', outputs=[O('display_data', data={'application/vnd.jupyter.widget-view+json': view,
                                                     'text/plain': 'IntSlider(value=3)'})]),
        C('lost_widget', outputs=[O('display_data', data={'application/vnd.jupyter.widget-view+json':
                                                          {**view, 'model_id': 'not-saved'}, 'text/plain': 'IntSlider()'})]),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nb.metadata['widgets'] = {'application/vnd.jupyter.widget-state+json': state}
    nbformat.write(nb, path)

@pytest.fixture(scope='session')
def fixture_site(tmp_path_factory):
    pytest.importorskip('myst_nb', reason='docs dev requirements missing: pip install -e ".[dev]"')
    _ensure_assets()
    d = tmp_path_factory.mktemp('docsfix')
    (d / 'nbs').mkdir()
    _fixture_nb(d / 'nbs' / '00_fixture.ipynb')
    _run(['tools/build_docs.py', '--nbs', d / 'nbs', '--out', d / 'site', '--build', d / 'build', '--no-api'], timeout=600)
    return d / 'site'

# ------------------------------------------------------------------------------------------ static checks
def _html_pages(root): return [p for p in root.rglob('*.html') if '_static' not in p.parts]

def test_every_notebook_is_a_page_in_reading_order(site, built):
    bd, rels = _bd(), built
    assert rels and (rels[0].name == 'index.ipynb' or not (ROOT / 'nbs' / 'index.ipynb').exists())
    for rel in rels: assert (site / f'{bd.page_of(rel)}.html').exists(), rel
    # the sidebar lists them in the same order
    side = re.search(r'<div class="sidebar-tree">(.*?)</div>', (site / 'index.html').read_text(), re.S).group(1)
    hrefs = [h for h in re.findall(r'href="([^"#]+)\.html"', side)]
    lessons = [bd.page_of(r) for r in rels if r.name != 'index.ipynb']
    assert [h for h in hrefs if h in lessons] == lessons

def test_no_cdn_assets(site):
    "Every script, stylesheet, icon and font the pages load is served from the site itself."
    bad = []
    for p in _html_pages(site):
        h = p.read_text(encoding='utf-8', errors='replace')
        for m in re.finditer(r'<(script|link|img|iframe|source)\b[^>]*?\b(src|href)\s*=\s*["\']((?:https?:)?//[^"\']+)', h):
            if m.group(1) == 'link' and re.search(r'rel=["\'](canonical|next|prev)', m.group(0)): continue
            bad.append(f'{p.relative_to(site)}: {m.group(3)}')
        if 'cdn.jsdelivr' in h or 'cdnjs.cloudflare' in h or 'unpkg.com' in h or 'maxcdn' in h: bad.append(f'{p}: CDN host named')
    assert not bad, '\n'.join(bad[:20])

def test_api_entry_for_every_exported_symbol(site):
    bd = _bd()
    syms = bd.modidx()
    missing = []
    for mod, d in syms.items():
        page = site / 'api' / f"{mod.split('.', 1)[1].replace('.', '/')}.html"
        assert page.exists(), page
        h = page.read_text()
        for k, (doc, _) in d.items():
            if not bd._public(k.split('.', 2)[2]): continue
            anchor = doc.partition('#')[2]
            if f'id="{anchor}"' not in h: missing.append(k)
        assert 'href="../src/' in h and 'github.com' in h.lower()
    assert not missing, f'no API entry for {missing[:20]}'

def test_lesson_pages_hide_directives_and_show_docs(site):
    core = (site / 'core.html').read_text()
    assert '#| export' not in core and '#| default_exp' not in core and '#| hide' not in core
    assert 'tag_export' in core                       # exported source stays visible in the lesson
    assert 'id="diffusionprocess"' in core            # show_doc entry, anchor as in _modidx.py
    assert 'href="api/core.html#bcast"' in core and 'href="src/core.html#L-' in core

def test_page_weight(site):
    bd = _bd()
    ws = sorted(bd.page_weight(p) for p in _html_pages(site))
    assert ws[len(ws) // 2] <= 2_000_000, f'typical page {ws[len(ws) // 2] / 1e6:.2f} MB'

def test_quarto_config_valid(site):
    "nbdev_docs keeps working for users who have Quarto: nbdev's config files exist and agree with settings.ini."
    import yaml
    nbs = ROOT / 'nbs'
    q = yaml.safe_load((nbs / '_quarto.yml').read_text())
    assert q['project']['type'] == 'website'
    for f in q.get('metadata-files', []): assert (nbs / f).exists(), f
    ny = yaml.safe_load((nbs / 'nbdev.yml').read_text())
    assert ny['project']['output-dir'] == '_docs' and ny['website']['repo-branch'] == 'main'
    side = yaml.safe_load((nbs / 'sidebar.yml').read_text())
    def files(c):
        for e in c:
            if isinstance(e, str): yield e
            else:
                if 'href' in e: yield e['href']
                yield from files(e.get('contents', []))
    entries = list(files(side['website']['sidebar']['contents']))
    assert entries
    for e in entries: assert (nbs / e).exists(), f'sidebar.yml names a missing file {e}: run `make docs`'

# ------------------------------------------------------------------------------------------ browser
class Server:
    "python -m http.server on 127.0.0.1 and a free port, stopped by its PID."
    def __init__(self, root):
        s = socket.socket(); s.bind(('127.0.0.1', 0)); self.port = s.getsockname()[1]; s.close()
        self.proc = subprocess.Popen([sys.executable, '-m', 'http.server', str(self.port), '--bind', '127.0.0.1',
                                      '--directory', str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try: socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close(); break
            except OSError: time.sleep(0.1)
        self.url = f'http://127.0.0.1:{self.port}/'
    def stop(self):
        os.kill(self.proc.pid, 15); self.proc.wait(timeout=10)

@pytest.fixture(scope='session')
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f'{CHROMIUM} not found: browser checks skipped (root: `make browser` or apt-get install chromium)')
    sync_playwright = pytest.importorskip('playwright.sync_api', reason='playwright (pip) missing').sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()

class Page:
    "A page with everything that went wrong on it recorded: console errors, page errors, failed and external requests."
    def __init__(self, browser, base):
        self.base, self.problems = base, []
        self.ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
        self.ctx.route('**/*', self._route)
        self.page = self.ctx.new_page()
        self.page.on('console', lambda m: m.type == 'error' and self.problems.append(f'console: {m.text} @ {m.location}'))
        self.page.on('pageerror', lambda e: self.problems.append(f'pageerror: {e}'))
        self.page.on('requestfailed', lambda r: self.problems.append(f'requestfailed: {r.url} {r.failure}'))
    def _route(self, route):
        u = route.request.url
        if u.startswith(self.base) or u.startswith('data:') or u.startswith('blob:'): return route.continue_()
        self.problems.append(f'external request: {u}'); return route.abort()
    def open(self, path):
        self.page.goto(self.base + path, wait_until='load')
        self.page.wait_for_load_state('networkidle')
        return self.page
    def close(self): self.ctx.close()

def _imgs_ok(page):
    return page.evaluate("""() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)""")

def _wait_maths(page):
    if page.evaluate("() => document.querySelectorAll('.math, div.math, span.math').length") == 0: return 0
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
    page.evaluate("() => MathJax.startup.promise")
    n = page.evaluate("() => document.querySelectorAll('mjx-container').length")
    assert n > 0, 'maths markup present but nothing typeset'
    errs = page.evaluate("() => document.querySelectorAll('mjx-merror').length")
    assert errs == 0, f'{errs} TeX errors'
    return n

def test_site_in_browser(site, built, browser, artifacts):
    bd = _bd()
    srv = Server(site)
    try:
        pg = Page(browser, srv.url)
        pages = ['index.html'] + [f'{bd.page_of(r)}.html' for r in built if r.name != 'index.ipynb']
        pages += ['api/index.html', 'api/core.html', 'src/core.html', 'genindex.html']
        maths, imgs, shot = 0, 0, None
        for path in pages:
            page = pg.open(path)
            assert 'difflab' in page.title(), path
            maths += _wait_maths(page)
            bad = _imgs_ok(page)
            assert not bad, f'{path}: images not decoded: {bad}'
            n_img = page.evaluate("() => document.querySelectorAll('.cell_output img').length")
            imgs += n_img
            if n_img and shot is None:
                page.locator('.cell_output img').first.scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / 'docs_lesson.png')); shot = path
            assert not pg.problems, f'{path}: ' + '\n'.join(pg.problems)
        assert maths > 0, 'no maths typeset anywhere in the site'
        # the home page, as a reader first sees it
        pg.open('index.html').screenshot(path=str(artifacts / 'docs_home.png'))
        # search: Sphinx's offline index
        page = pg.open('search.html?q=diffusion')
        page.wait_for_selector('#search-results ul.search li', timeout=20000)
        assert page.locator('#search-results ul.search li').count() > 0
        page.screenshot(path=str(artifacts / 'docs_search.png'))
        # the API anchor from _modidx.py lands on the entry
        page = pg.open('core.html#bcast')
        assert page.evaluate("() => document.getElementById('bcast') !== null")
        assert not pg.problems, '\n'.join(pg.problems)
        pg.close()
    finally: srv.stop()

def test_every_output_kind_in_browser(fixture_site, browser, artifacts):
    srv = Server(fixture_site)
    try:
        pg = Page(browser, srv.url)
        page = pg.open('fixture.html')
        text = page.inner_text('article')
        assert 'SECRET_HIDDEN_CELL' not in text and '#|' not in text
        assert _wait_maths(page) >= 2
        assert not _imgs_ok(page)
        assert page.evaluate("() => document.querySelectorAll('.cell_output img').length") >= 1
        # the show_doc cell became an API entry rendered from the exported module
        assert page.locator('#bcast').count() == 1 and 'broadcasts' in text
        # animation: JS alive without a kernel; stepping changes the frame; Font Awesome icons from the site
        anim = page.locator('.animation').first
        anim.scroll_into_view_if_needed()
        slider = page.locator('.animation input[type=range]').first
        before = slider.input_value()
        page.locator('.animation button[title="Next frame"]').first.click()
        page.wait_for_timeout(200)
        assert slider.input_value() != before
        fa = page.evaluate("() => getComputedStyle(document.querySelector('.animation .fa-play'), '::before').fontFamily")
        assert 'FontAwesome' in fa, fa
        # widget snapshot drawn from the saved state by the site's own HTML manager
        page.wait_for_selector('.widget-slider, .jupyter-widgets.widget-slider', timeout=20000)
        assert 'steps' in page.inner_text('article')
        assert page.locator('.widget-note').count() == 1        # a widget without saved state says so
        page.locator('.animation').first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / 'docs_fixture.png'), full_page=True)
        assert not pg.problems, '\n'.join(pg.problems)
        pg.close()
    finally: srv.stop()
