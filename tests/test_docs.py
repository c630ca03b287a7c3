"""The docs site: `tools/build_docs.py` builds `_docs/` offline (Sphinx + myst-nb fed by nbdev's processors; API pages
by autodoc/autosummary, source pages by viewcode), and the pages work in a real browser (Debian's headless chromium
driven by Playwright, the session's one browser from conftest.py): on EVERY page no console error, no request
leaving 127.0.0.1, no TeX left unrendered and no MathJax error, figures decoded; search answers, animations and
widget snapshots are alive. A crawler reads every page: no dangling link or anchor, no repeated id, no link to a
host that is not real. A small fixture notebook (maths written the ways that broke, figure, `to_jshtml` animation,
widget state, hidden and exported cells) is built into a second site so every output kind is checked even before
the lessons store theirs. Screenshots are kept in test-artifacts/.
"""
import base64, importlib, inspect, io, os, posixpath, re, shutil, socket, subprocess, sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / '_docs'
# External links the site may hold: well-known references (papers) and the theme's credits. settings.ini's doc_host
# and git_url are placeholders (no public site or repository exists yet), so they are not in this list.
EXTERNAL_OK = ('https://arxiv.org/', 'https://doi.org/', 'https://openreview.net/', 'https://proceedings.neurips.cc/',
               'https://proceedings.mlr.press/', 'https://jmlr.org/', 'https://www.sphinx-doc.org/',
               'https://pradyunsg.me', 'https://github.com/pradyunsg/furo')
# TeX that MathJax did not (or will not) typeset, in the text of a page
RAW_TEX = re.compile(r'\$\$|\\\(|\\\[|\$\\[A-Za-z]')

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
        # maths written the ways that broke the site: a display block whose lines start with `+ ` / `- ` (read as a
        # list, its backslashes eaten), inline maths over a line break, and LaTeX's own delimiters
        M('The bound\n$$-\\log p(x_0) \\le \\mathrm{KL}\\big(q\\,\\|\\,p\\big)\n+ \\sum_k L_k\n- \\mathbb E_q \\log p(x_0)$$\n'
          'and inline $a\n+ b$ across a line, then \\(\\tfrac12\\) and \\[\\int_0^1 f\\,dt\\].'),
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

# ------------------------------------------------------------------------------------------ crawler
def _html_pages(root): return sorted(p for p in root.rglob('*.html') if '_static' not in p.parts)

class _Page(HTMLParser):
    "One HTML page: its ids (and repeats), its links, and text outside code/maths that still holds TeX."
    VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}
    QUIET = {'code', 'pre', 'script', 'style', 'textarea', 'svg'}
    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.ids, self.repeated, self.links, self.tex, self.stack = set(), [], [], [], []
        self.feed(path.read_text(encoding='utf-8', errors='replace')); self.close()
    def handle_starttag(self, tag, attrs, void=False):
        a = dict(attrs)
        if a.get('id') is not None:
            if a['id'] in self.ids: self.repeated.append(a['id'])
            self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'link', 'img', 'script', 'iframe', 'source'): self.links.append((tag, a[k]))
        if tag not in self.VOID and not void:
            self.stack.append(tag in self.QUIET or 'math' in (a.get('class') or '').split())
    def handle_startendtag(self, tag, attrs): self.handle_starttag(tag, attrs, void=True)
    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack: self.stack.pop()
    def handle_data(self, data):
        if not any(self.stack) and RAW_TEX.search(data): self.tex.append(' '.join(data.split())[:160])

def crawl(site):
    "Every page of `site` read once: {page (posix, site-relative): _Page}."
    return {p.relative_to(site).as_posix(): _Page(p) for p in _html_pages(site)}

def link_problems(site, pages):
    "Dangling internal links and anchors, external links to hosts that are not known references; and counts."
    bad, n = [], {'internal': 0, 'anchors': 0, 'external': 0}
    for page, parsed in pages.items():
        for tag, href in parsed.links:
            u = urlsplit(href)
            if u.scheme in ('mailto', 'javascript', 'data', 'blob'): continue
            if u.scheme or href.startswith('//'):
                n['external'] += 1
                if not href.startswith(EXTERNAL_OK): bad.append(f'{page}: external link {href}')
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(u.path))) if u.path else page
            if u.path.endswith('/') or (site / target).is_dir(): target = posixpath.join(target, 'index.html')
            n['internal'] += 1
            if not (site / target).is_file(): bad.append(f'{page}: <{tag}> {href} -> missing {target}'); continue
            if u.fragment and target.endswith('.html'):
                n['anchors'] += 1
                if unquote(u.fragment) not in pages[target].ids: bad.append(f'{page}: {href} -> no id in {target}')
    return bad, n

@pytest.fixture(scope='session')
def pages(site): return crawl(site)

def test_links_anchors_and_ids(site, pages, fixture_site):
    "No dangling link or anchor, no repeated id, no external host but known references: on every page of both sites."
    bad, n = link_problems(site, pages)
    fix = crawl(fixture_site)
    bad += [f'fixture: {b}' for b in link_problems(fixture_site, fix)[0]]
    bad += [f'{p}: id {i!r} repeated' for site_pages in (pages, fix) for p, x in site_pages.items() for i in x.repeated]
    print(f'crawled {len(pages)} pages: {n}')
    assert n['internal'] > 1000 and n['anchors'] > 300, n
    assert not bad, f'{len(bad)} problems:\n' + '\n'.join(bad[:40])

def test_no_unrendered_tex_in_html(pages, fixture_site):
    "No page holds TeX outside code and the maths elements MathJax typesets (e.g. `$$` read as text)."
    bad = [f'{p}: {t}' for site_pages in (pages, crawl(fixture_site)) for p, x in site_pages.items() for t in x.tex]
    assert not bad, '\n'.join(bad[:20])

def test_no_cdn_assets(site):
    "Every script, stylesheet, icon and font the pages load is served from the site itself."
    bad = []
    for p in _html_pages(site):
        h = p.read_text(encoding='utf-8', errors='replace')
        for m in re.finditer(r'<(script|link|img|iframe|source)\b[^>]*?\b(src|href)\s*=\s*["\']((?:https?:)?//[^"\']+)', h):
            bad.append(f'{p.relative_to(site)}: {m.group(3)}')
        if 'cdn.jsdelivr' in h or 'cdnjs.cloudflare' in h or 'unpkg.com' in h or 'maxcdn' in h: bad.append(f'{p}: CDN host named')
    assert not bad, '\n'.join(bad[:20])

# ------------------------------------------------------------------------------------------ API pages
def _documented_name(key):
    """Where autodoc documents the symbol `key` of nbdev's index (a method patched in from another module lives with
    its class): its dotted name and its module."""
    parts = key.split('.')
    for i in range(len(parts) - 1, 0, -1):
        try: obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError: continue
        owner = None
        for a in parts[i:]: owner, obj = obj, inspect.getattr_static(obj, a)
        if isinstance(owner, type): return f'{owner.__module__}.{owner.__qualname__}.{parts[-1]}', owner.__module__
        return key, '.'.join(parts[:i])
    return key, None

def test_api_entry_for_every_exported_symbol(site):
    "Each public symbol of nbdev's index has an entry (autodoc's id) on its module's page, which links to the lesson."
    bd = _bd()
    syms = {}
    exec((ROOT / 'difflab' / '_modidx.py').read_text(), syms)
    missing, n = [], 0
    for mod, d in syms['d']['syms'].items():
        page = site / 'api' / f'{mod}.html'
        assert page.exists(), page
        assert 'github.com/difflab' not in page.read_text() and 'href="../_modules/' in page.read_text()
        for key in d:
            short = key.split('.', 2)[2]
            private = [p for p in short.split('.') if p.startswith('_') and not (p.endswith('__') and p[:2] == '__')]
            if private or (short.endswith('__') and not short.endswith('.__call__')): continue   # dunders: __call__
            name, home = _documented_name(key)
            n += 1
            if f'id="{name}"' not in (site / 'api' / f'{home}.html').read_text(): missing.append(name)
    assert n > 300 and not missing, f'{len(missing)} of {n} symbols without an API entry: {missing[:20]}'
    lesson = (site / 'api' / 'difflab.ddpm.html').read_text()
    assert 'href="../ddpm.html"' in lesson and re.search(r'href="\.\./ddpm\.html#[\w-]+"', lesson)

def test_api_entry_shows_parameters(site):
    "A class entry is its docstring and the signature of __init__, with every parameter and its type listed."
    h = (site / 'api' / 'difflab.dlpm.html').read_text()
    entry = h[h.index('id="difflab.dlpm.DLPM"'):]
    entry = entry[:entry.index('</dl>')]
    assert 'Initialize self' not in h
    assert 'Denoising Levy probabilistic model' in entry
    params = entry[entry.index('Parameters'):]
    for p in ('alpha', 'T', 'loss_type', 'eta'): assert f'<strong>{p}</strong>' in params, p
    assert 'float' in params and 'str' in params

def test_docstrings_markdown_and_docments():
    "nbdev's docstrings are markdown; a parameter's meaning written the nbdev way (docments) is listed."
    sys.path.insert(0, str(ROOT / 'docs'))
    conf = importlib.import_module('conf')
    def f(x: int,  # how many draws
          y: float = 1.0):
        "Sum of $|x|^2$ over `x`."
    class App:
        class config: difflab_lessons = {'api': True, 'entries': {'m.f': 'lesson-m.f'}}
    lines = ['Sum of $|x|^2$ over `x`.']
    conf.process_docstring(App, 'function', 'm.f', f, {'members': True}, lines)
    assert lines[:3] == ['.. markdown::', '', '   Sum of $|x|^2$ over `x`.']
    assert ':param x: how many draws' in lines and ':param y:' in lines       # every parameter is listed
    assert any(':ref:`f <lesson-m.f>`' in l for l in lines)
    summary = ['Sum of $|x|^2$ over `x` | *args']
    conf.process_docstring(App, 'function', 'm.f', f, {}, summary)      # autosummary's one-line summary
    assert summary == [r'Sum of :math:`|x|^2` over `x` \| \*args']

def test_lesson_pages_hide_directives_and_show_docs(site):
    core = (site / 'core.html').read_text()
    assert '#| export' not in core and '#| default_exp' not in core and '#| hide' not in core
    assert 'tag_export' in core                       # exported source stays visible in the lesson
    assert 'id="core-difflab-core-diffusionprocess"' in core     # show_doc entry, the API page's "lesson" target
    assert 'href="api/difflab.core.html#difflab.core.bcast"' in core
    assert 'difflab.github.io' not in core and 'github.com/difflab' not in core

def page_weight(page):
    "Bytes of an HTML page plus every local script, stylesheet and image it loads (fonts and lazy assets excluded)."
    h, seen = page.read_text(encoding='utf-8', errors='replace'), set()
    total = page.stat().st_size
    for m in re.finditer(r'<(script|img|link)\b[^>]*?\b(?:src|href)="([^"#?]+)[^>]*>', h):
        u = m.group(2)
        if u.startswith(('http:', 'https:', 'data:', '//')) or u in seen: continue
        if m.group(1) == 'link' and 'stylesheet' not in m.group(0): continue
        seen.add(u)
        f = (page.parent / u).resolve()
        total += f.stat().st_size if f.is_file() else 0
    return total

def test_page_weight(site):
    ws = sorted(page_weight(p) for p in _html_pages(site))
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

def test_one_browser_per_session():
    "Playwright's sync API may be started once per process: every browser test uses conftest.py's `browser`."
    starts = [p.name for p in (ROOT / 'tests').glob('test_*.py') if 'sync_' + 'playwright(' in p.read_text()]
    fixtures = [p.name for p in (ROOT / 'tests').glob('test_*.py') if re.search(r'def browser\(', p.read_text())]
    assert not starts and not fixtures, (starts, fixtures)

def test_browser_tests_run_last(request):
    "After the first browser test Playwright's asyncio loop runs until the session ends: no other test may follow one."
    uses = ['browser' in getattr(item, 'fixturenames', ()) for item in request.session.items]
    assert uses == sorted(uses)

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

RAW_TEX_JS = """() => {
  const re = /\\$\\$|\\\\\\(|\\\\\\[|\\$\\\\[A-Za-z]/, bad = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode())
    if (re.test(n.data) && !n.parentElement.closest('code, pre, script, style, textarea, mjx-container'))
      bad.push(n.data.trim().slice(0, 160));
  return bad;
}"""

def _wait_maths(page):
    "Wait for MathJax; then no TeX may be left as text and no TeX error shown. Returns the formulas typeset."
    if page.evaluate("() => document.querySelectorAll('.math, div.math, span.math').length"):
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
        page.evaluate("() => MathJax.startup.promise")
    n = page.evaluate("() => document.querySelectorAll('mjx-container').length")
    errs = page.evaluate("() => document.querySelectorAll('mjx-merror, merror').length")
    assert errs == 0, f'{errs} TeX errors'
    raw = page.evaluate(RAW_TEX_JS)
    assert not raw, f'unrendered TeX: {raw[:5]}'
    return n

def test_site_in_browser(site, built, browser, artifacts):
    "Every page of the site, in chromium: no error, no outside request, maths typeset, images decoded."
    srv = Server(site)
    try:
        pg = Page(browser, srv.url)
        paths = [p.relative_to(site).as_posix() for p in _html_pages(site)]
        maths, imgs, shot = 0, 0, None
        for path in paths:
            page = pg.open(path)
            assert 'difflab' in page.title(), path
            try: maths += _wait_maths(page)
            except AssertionError as e: raise AssertionError(f'{path}: {e}') from None
            bad = _imgs_ok(page)
            assert not bad, f'{path}: images not decoded: {bad}'
            n_img = page.evaluate("() => document.querySelectorAll('.cell_output img').length")
            imgs += n_img
            if n_img and shot is None:
                page.locator('.cell_output img').first.scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / 'docs_lesson.png')); shot = path
            assert not pg.problems, f'{path}: ' + '\n'.join(pg.problems)
        print(f'{len(paths)} pages in the browser, {maths} formulas typeset, {imgs} output images')
        assert maths > 100 and len(paths) > 40, (maths, len(paths))
        pg.open('index.html').screenshot(path=str(artifacts / 'docs_home.png'))
        pg.open('ddpm.html').screenshot(path=str(artifacts / 'docs_ddpm.png'))
        # search: Sphinx's offline index
        page = pg.open('search.html?q=diffusion')
        page.wait_for_selector('#search-results ul.search li', timeout=20000)
        assert page.locator('#search-results ul.search li').count() > 0
        page.wait_for_function("() => /Search finished/.test(document.getElementById('search-results').innerText)",
                               timeout=60000)
        page.wait_for_function(f'() => ({RAW_TEX_JS})().length === 0', timeout=20000)   # quotes' maths typeset
        assert page.locator('#search-results mjx-container').count() > 0
        assert page.evaluate("() => document.querySelectorAll('mjx-merror').length") == 0
        page.screenshot(path=str(artifacts / 'docs_search.png'))
        page = pg.open('api/difflab.dlpm.html#difflab.dlpm.DLPM')
        page.screenshot(path=str(artifacts / 'docs_api.png'))
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
        assert _wait_maths(page) >= 6       # the broken-looking ones included
        assert not _imgs_ok(page)
        assert page.evaluate("() => document.querySelectorAll('.cell_output img').length") >= 1
        # the show_doc cell became an API entry rendered from the exported module
        assert page.locator('dl.py.function').count() == 1 and 'broadcasts' in text
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

def test_prune_drops_pages_whose_source_is_gone(tmp_path):
    "An upgraded checkout keeps no page of an older layout: Sphinx itself never deletes one."
    html, src = tmp_path / 'html', tmp_path / 'src'
    for rel in ('api/difflab.core.html', 'api/core.html', 'core.html', 'search.html', '_modules/x.html'):
        (html / rel).parent.mkdir(parents=True, exist_ok=True)
        (html / rel).write_text('<html></html>')
    for rel in ('api/difflab.core.rst', 'core.ipynb'):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text('')
    _bd()._prune(html, src)
    left = sorted(str(p.relative_to(html)) for p in html.rglob('*.html'))
    assert left == ['_modules/x.html', 'api/difflab.core.html', 'core.html', 'search.html']
