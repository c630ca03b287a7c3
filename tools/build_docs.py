#!/usr/bin/env python
"""Build the difflab docs site into `_docs/`, offline, from the notebooks in `nbs/` (Sphinx + myst-nb + Furo).

    python tools/build_docs.py            # incremental build (what `make docs` runs)
    python tools/build_docs.py --clean    # from scratch
    python tools/build_docs.py --sizes    # also print the weight of every page (HTML + what it loads)

Pipeline (see docs/README.md for why Sphinx):
1. Every notebook nbdev sees (`nbdev.doclinks.nbglob`: `_`-prefixed files and folders skipped), in reading order
   (index first, then by path: `00_core` ... `31_cli`, `tutorials/...`), goes through nbdev's own processors
   (`FilterDefaults` subclass: frontmatter, `add_show_docs`, `hide_`, `hide_line`, `filter_stream_`, `clean_magics`,
   `add_links`, ...). Two of nbdev's steps are replaced for a static site: exported code stays visible as the lesson's
   source (tagged "export", directives stripped), and each `show_doc` becomes a markdown API entry rendered by nbdev's
   `BasicMarkdownRenderer` from the *exported module* (imported, never the notebook run). Stored outputs are kept
   as they are: figures, `to_jshtml` animations (their Font Awesome CDN link is pointed at the site's copy),
   widget snapshots (saved widget state, drawn by the HTML manager from `_static`).
2. `difflab/_modidx.py` gives one API page per module (every public exported symbol, signature, docstring,
   links to its lesson, its highlighted source page in the site and GitHub) and one source page per module.
3. `sphinx-build` (incremental: only changed pages are re-read) writes `_docs/`. Nothing is executed or downloaded:
   MathJax, the widget manager and fonts come from `.venv/docs-assets` (fetched once by tools/docs_assets.py).
Also refreshes nbdev's Quarto files (nbs/nbdev.yml, nbs/sidebar.yml) exactly as `nbdev_docs` would.
"""
import argparse, ast, fcntl, hashlib, html, importlib, inspect, json, os, posixpath, re, shutil
import subprocess, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / 'build' / 'docs'     # processed notebooks (BUILD/src), Sphinx doctrees, cache; set by --build
SRC = BUILD / 'src'
OUT = ROOT / '_docs'                 # set by --out
CONF = ROOT / 'docs'
VENDOR = ROOT / '.venv' / 'docs-assets' / 'static' / 'vendor'
PROC_VERSION = '1'   # bump to force every notebook to be processed again

# Sidebar captions for top-level lessons, by their number (nbs/NN_name.ipynb); folders (tutorials/) get their own caption.
GROUPS = [(0, 9, 'Foundations'), (10, 18, 'Diffusion processes'), (19, 29, 'Plots and interactive explorers'),
          (30, 39, 'Experiments and the command line')]

# Known CDN assets found inside stored notebook outputs -> the site's own copy (relative to _static)
CDN_MAP = {r'https?://maxcdn\.bootstrapcdn\.com/font-awesome/[\d.]+/css/font-awesome(\.min)?\.css':
           'vendor/font-awesome/css/font-awesome.min.css',
           r'https?://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/[\d.]+/css/font-awesome(\.min)?\.css':
           'vendor/font-awesome/css/font-awesome.min.css'}
WIDGET_VIEW, WIDGET_STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'

from nbdev.config import get_config
from nbdev.doclinks import nbglob, NbdevLookup
from nbdev.process import Processor
from nbdev.frontmatter import FrontmatterProc
from nbdev.processors import (FilterDefaults, populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_,
                              rm_header_dash, ai_magics, clean_magics, hide_, add_links, strip_hidden_metadata, _default_exp)
from execnb.nbio import read_nb, mk_cell

CFG = get_config(path=ROOT)
NBS = Path(CFG.nbs_path)
LIB = CFG.lib_name
DOC_URL = (CFG.doc_host.rstrip('/') + '/' + CFG.doc_baseurl.strip('/') + '/').replace('//', '/').replace(':/', '://')

def log(*a): print('[docs]', *a, flush=True)

# ---------------------------------------------------------------------------------------------------- pages
def page_of(rel) -> str:
    "Sphinx docname of notebook `rel` (relative to nbs/): nbdev's naming, `00_core.ipynb` -> `core`."
    rel = Path(rel)
    return (rel.parent / Path(re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())).stem).as_posix()

def notebooks():
    "Notebooks nbdev sees, in reading order: index first, then by path."
    nbs = NBS
    files = [Path(f) for f in nbglob(nbs)]
    files = [f for f in files if '.ipynb_checkpoints' not in f.parts]
    rels = [f.relative_to(nbs) for f in files]
    return sorted(rels, key=lambda r: (r.as_posix() != 'index.ipynb', r.parts))

def relurl(src_doc, target):
    "URL of `target` ('page.html#x', posix, site-relative) as seen from page `src_doc`."
    path, _, frag = target.partition('#')
    r = posixpath.relpath(path, posixpath.dirname(src_doc) or '.')
    return r + ('#' + frag if frag else '')

# ---------------------------------------------------------------------------------------------------- API data
def modidx():
    "nbdev's symbol index, read fresh from difflab/_modidx.py."
    ns = {}
    exec((ROOT / LIB / '_modidx.py').read_text(), ns)
    return ns['d']['syms']

def _public(qual):
    return all(not p.startswith('_') or (p.startswith('__') and p.endswith('__')) for p in qual.split('.'))

class Api:
    "Everything the pages need to know about exported symbols."
    def __init__(self, pages, with_api=True):
        self.with_api = with_api     # API and source pages exist (not with --no-api)
        self.syms = modidx()
        self.pages = set(pages)
        self.mods = {}
        for mod in self.syms:
            try: self.mods[mod] = importlib.import_module(mod)
            except Exception as e: warnings.warn(f"docs: cannot import {mod}: {e}")
        self.flat = {k: v for m in self.syms.values() for k, v in m.items()}

    def namespace(self, default_exp=None):
        ns = {}
        for m in self.mods.values(): ns.update({k: getattr(m, k) for k in getattr(m, '__all__', []) if hasattr(m, k)})
        if default_exp:
            m = self.mods.get(f'{LIB}.{default_exp}')
            if m: ns.update(vars(m))
        return ns

    def key_of(self, obj, disp):
        "modidx key ('difflab.core.bcast') of `obj` shown as `disp`, or None."
        mod, qn = getattr(obj, '__module__', None), getattr(obj, '__qualname__', None)
        for k in (f'{mod}.{qn}', f'{mod}.{disp}'):
            if k in self.flat: return k
        hits = [k for k in self.flat if k.endswith('.' + disp)]
        return hits[0] if len(hits) == 1 else None

    @staticmethod
    def short(key): return key.split('.', 2)[2] if key.count('.') >= 2 else key

    def modname(self, key):
        return next((m for m in sorted(self.syms, key=len, reverse=True) if key.startswith(m + '.')), None)

def _lineno(obj):
    o = obj.fget if isinstance(obj, property) else obj
    try: return inspect.getsourcelines(inspect.unwrap(o))[1]
    except Exception: return None

def _mod_page(mod): return mod.split('.', 1)[1].replace('.', '/') if '.' in mod else mod

_CTRL = {'\x07': '\\a', '\x08': '\\b', '\x0b': '\\v', '\x0c': '\\f'}
def _unescape(s):
    "A docstring written without r'' turns `\\bar`, `\\alpha` into control characters: give LaTeX its backslashes back."
    return re.sub('[\x07\x08\x0b\x0c]', lambda m: _CTRL[m.group(0)], re.sub(r'[\x00-\x06\x0e-\x1f]', '', s))

def entry_md(api, obj, disp, here, level=3, shown=None, context='lesson'):
    "Markdown API entry for `obj` (nbdev's show_doc body), with its anchor and links to lesson, API page and source."
    from nbdev.showdoc import BasicMarkdownRenderer
    from fastcore.docments import MarkdownRenderer
    key = api.key_of(obj, disp)
    anchor = (api.flat[key][0].partition('#')[2] if key else disp.lower())
    mod = api.modname(key) if key else None
    try: body = MarkdownRenderer._repr_markdown_(BasicMarkdownRenderer(obj, name=disp.split('.')[-1], title_level=level))
    except Exception as e: body = f'*(no signature: {e})*'
    body = _unescape(body)
    if inspect.isclass(obj): body = re.sub(r'^```python\ndef ', '```python\nclass ', body)
    links = []
    if key and mod and api.with_api:
        lesson = api.flat[key][0].partition('#')[0][:-len('.html')]
        if context == 'api' and lesson in api.pages: links.append(('lesson', relurl(here, f'{lesson}.html#{anchor}')))
        if context == 'lesson': links.append(('API', relurl(here, f'api/{_mod_page(mod)}.html#{anchor}')))
        ln, path = _lineno(obj), api.flat[key][1]
        links.append(('source', relurl(here, f'src/{_mod_page(mod)}.html') + (f'#L-{ln}' if ln else '')))
        links.append(('GitHub', f"{CFG.git_url}/blob/{CFG.branch}/{path}" + (f'#L{ln}' if ln else '')))
    ids = shown if shown is not None else set()
    # the heading's own id (docutils' make_id) may already be the anchor nbdev's _modidx.py links to: never duplicate an id
    from docutils.nodes import make_id
    anchor_html = '' if anchor in ids or make_id(disp) == anchor else f'<div id="{html.escape(anchor)}" class="api-anchor"></div>\n\n'
    ids.add(anchor)
    link_html = ' · '.join(f'<a href="{html.escape(u)}">{t}</a>' for t, u in links)
    name_md = disp.replace('_', r'\_')
    return (f'{anchor_html}{"#" * level} {name_md}\n\n'
            + (f'<p class="api-links">{link_html}</p>\n\n' if link_html else '') + body.strip() + '\n')

# ---------------------------------------------------------------------------------------------------- processors
class Ctx:
    "What the processors of the notebook being processed need."
    api = None; page = ''; rel = None

def _relink(md, here):
    "nbdev's `add_links` writes absolute doc_host URLs; make the ones into this site relative (raw HTML, so MyST keeps them)."
    def sub(m):
        text, target = m.group(1), m.group(2)
        if text.startswith('`') and text.endswith('`'):
            label = f'<code class="docutils literal notranslate"><span class="pre">{html.escape(text[1:-1])}</span></code>'
        else: label = html.escape(text)
        return f'<a class="reference internal" href="{html.escape(relurl(here, target))}">{label}</a>'
    return re.sub(r'\[([^\]\n]+)\]\(' + re.escape(DOC_URL) + r'([^)\s]+)\)', sub, md)

def _nb_links(md, rel):
    "Links between notebooks (`10_ddpm.ipynb#x`) -> the processed page (`ddpm.ipynb#x`), which MyST resolves."
    def sub(m):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(rel.as_posix()), m.group(2) + '.ipynb'))
        new = page_of(target)
        return f'{m.group(1)}({relurl(page_of(rel.as_posix()), new + ".ipynb")}{m.group(3) or ""})'
    return re.sub(r'(\]\s*)\(((?!\w+:)[^)\s#]+?)\.ipynb(#[^)\s]*)?\)', sub, md)

class split_title(Processor):
    "nbdev turns the first `# Title` cell into frontmatter and drops the whole cell: keep any lesson text after it."
    def begin(self):
        for i, c in enumerate(self.nb.cells):
            if c.cell_type != 'markdown': continue
            lines = c.source.splitlines()
            if not any(re.match(r'^#\s+\S', l) for l in lines): return
            head = [l for l in lines if re.match(r'^(#\s+\S|>\s|-\s+\S.*:|\s*$)', l)]
            rest = lines[len(head):] if lines[:len(head)] == head else None
            if rest is None:   # title/description interleaved with text: keep the prefix as frontmatter
                k = next(j for j, l in enumerate(lines) if not re.match(r'^(#\s+\S|>\s|-\s+\S.*:|\s*$)', l))
                head, rest = lines[:k], lines[k:]
            if any(l.strip() for l in rest):
                c.source = '\n'.join(head)
                self.nb.cells.insert(i + 1, mk_cell('\n'.join(rest), 'markdown'))
            return

class title_cell(Processor):
    "The frontmatter (a raw YAML cell from nbdev's `FrontmatterProc`) becomes the page title, lead and source line."
    def begin(self):
        fm = getattr(self.nb, 'frontmatter_', {}) or {}
        cells = self.nb.cells
        if cells and cells[0].cell_type == 'raw' and cells[0].source.startswith('---'): del cells[0]
        title = fm.get('title') or Path(Ctx.rel.name).stem
        desc = fm.get('description')
        nbrel = ((NBS.relative_to(ROOT) if NBS.is_relative_to(ROOT) else Path(NBS.name)) / Ctx.rel).as_posix()
        meta = [f'<a href="{CFG.git_url}/blob/{CFG.branch}/{nbrel}">{nbrel}</a>']
        dexp = _default_exp(self.nb)
        if dexp:
            mod = f'{LIB}.{dexp}'
            meta.append(f'module <a href="{relurl(Ctx.page, "api/" + _mod_page(mod) + ".html")}"><code>{mod}</code></a>')
        src = f'# {title}\n\n'
        if desc: src += f':::{{container}} nb-lead\n{desc}\n:::\n\n'   # MyST renders its `code` and $maths$
        src += f'<p class="nb-source">{" · ".join(meta)}</p>\n'
        cells.insert(0, mk_cell(src, 'markdown'))

def _only_show_docs(src):
    try: tree = ast.parse(src)
    except SyntaxError: return None
    calls = [st.value for st in tree.body if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call)
             and getattr(st.value.func, 'id', None) == 'show_doc' and st.value.args]
    return calls if calls and len(calls) == len(tree.body) else None

class render_show_docs(Processor):
    "Replaces nbdev's `exec_show_docs`: each `show_doc(sym)` cell becomes a markdown API entry, without running the notebook."
    def begin(self):
        fm = getattr(self.nb, 'frontmatter_', {}) or {}
        self.skip = str(fm.get('skip_showdoc', '')).lower() in ('true', '1', 'yes')
        self.ns = Ctx.api.namespace(_default_exp(self.nb))
        self.shown = set()
    def cell(self, cell):
        if cell.cell_type != 'code' or not cell.source: return
        calls = _only_show_docs(cell.source)
        if not calls: return
        if self.skip: cell.source = None; return
        parts = []
        for call in calls:
            disp = ast.unparse(call.args[0])
            kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ('name', 'title_level')}
            try: obj = eval(compile(ast.Expression(call.args[0]), '<show_doc>', 'eval'), dict(self.ns))
            except Exception as e:
                log(f"{Ctx.rel}: show_doc({disp}) not found in the exported modules ({e.__class__.__name__}); left out")
                continue
            parts.append(entry_md(Ctx.api, obj, kw.get('name') or disp, Ctx.page, level=kw.get('title_level', 3),
                                  shown=self.shown))
        cell.cell_type, cell.source = 'markdown', '\n\n'.join(parts)
        cell.pop('outputs', None); cell.pop('execution_count', None)
        if not parts: cell.source = None

_EXPORT = {'export', 'exports', 'exporti'}
_DROP = {'hide', 'default_exp'}
_re_quarto = re.compile(r'^\s*#\s*\|\s*([\w-]+)\s*:\s*(.*?)\s*$')

class code_cells(Processor):
    "Replaces nbdev's `rm_export`/`add_fold`/`mv_exports`: exported code is shown (tagged), directive lines are removed."
    def cell(self, cell):
        if cell.cell_type != 'code' or cell.source is None: return
        d = cell.directives_ or {}
        tags = list(cell.metadata.get('tags', []))
        lines, keep = cell.source.splitlines(), []
        while lines and (not lines[0].strip() or re.match(r'^\s*#\s*\|', lines[0])):   # leading directives: Quarto's job
            line = lines.pop(0)
            m = _re_quarto.match(line)
            if not m: continue
            k, v = m.group(1), m.group(2).strip('\'"').lower()
            if k == 'include' and v == 'false': cell.source = None; return
            if k == 'echo' and v == 'false': tags.append('remove-input')
            if k == 'output' and v == 'false': tags.append('remove-output')
        keep = lines
        src = '\n'.join(keep).strip('\n')
        if d.keys() & _EXPORT: tags.append('export')
        has_out = bool(cell.get('outputs'))
        if (d.keys() & _DROP) and not src.strip() and not has_out: cell.source = None; return
        if not src.strip():
            if not has_out: cell.source = None; return
            tags.append('remove-input')
        cell.source = src
        if tags: cell.metadata['tags'] = sorted(set(tags))

def _text(x): return ''.join(x) if isinstance(x, list) else (x or '')

def _offline_html(h, where):
    "Point known CDN assets at the site's copies; drop any other external <script src>/<link href> (the site is offline)."
    static = relurl(Ctx.page, '_static/x')[:-1]
    for pat, local in CDN_MAP.items(): h = re.sub(pat, static + local, h)
    def drop(m):
        log(f"{where}: removed external asset from an output (the site serves no CDN files): {m.group(0)[:120]}")
        return ''
    h = re.sub(r'<script[^>]*\bsrc=(["\'])(?:https?:)?//[^"\']+\1[^>]*>\s*</script>', drop, h)
    return re.sub(r'<link[^>]*\bhref=(["\'])(?:https?:)?//[^"\']+\1[^>]*>', drop, h)

class outputs(Processor):
    "Stored outputs, made static-site safe: no CDN links, `\\r` progress lines collapsed, widgets without saved state get a note."
    def begin(self):
        st = ((self.nb.metadata.get('widgets') or {}).get(WIDGET_STATE) or {}).get('state') or {}
        self.models = set(st)
    def cell(self, cell):
        if cell.cell_type != 'code' or not cell.get('outputs'): return
        outs = []
        for o in cell.outputs:
            if o.get('output_type') == 'stream':
                lines = _text(o.get('text')).split('\n')
                o['text'] = '\n'.join(l.rsplit('\r', 1)[-1] for l in lines)
            data = o.get('data') or {}
            if 'text/html' in data: data['text/html'] = _offline_html(_text(data['text/html']), f'{Ctx.rel} cell {cell.idx_}')
            if WIDGET_VIEW in data:
                mid = (data[WIDGET_VIEW] or {}).get('model_id')
                if mid not in self.models:
                    data.pop(WIDGET_VIEW)
                    if not any(k.startswith('image/') for k in data):
                        data.clear()
                        data['text/html'] = ('<p class="widget-note">Interactive widget: run this notebook in Jupyter '
                                             'to use it (no snapshot was saved with the notebook).</p>')
            outs.append(o)
        cell['outputs'] = outs

def _mod_links(md, here, mods):
    "`difflab.ddpm` in backticks (outside code blocks) -> a link to that module's API page."
    parts = re.split(r'(```.*?```)', md, flags=re.S)
    def sub(m):
        if m.group(1) not in mods: return m.group(0)
        url = relurl(here, f'api/{_mod_page(m.group(1))}.html')
        return (f'<a class="reference internal" href="{url}"><code class="docutils literal notranslate">'
                f'<span class="pre">{m.group(1)}</span></code></a>')
    return ''.join(p if p.startswith('```') else re.sub(r'(?<![\[`])`(' + LIB + r'(?:\.\w+)+)`(?![\]`])', sub, p)
                   for p in parts)

class site_links(Processor):
    "After nbdev's `add_links`: links into this site made relative, links between notebooks pointed at pages."
    def cell(self, cell):
        if cell.cell_type == 'markdown' and cell.source:
            src = _nb_links(_relink(cell.source, Ctx.page), Ctx.rel)
            if Ctx.api.with_api: src = _mod_links(src, Ctx.page, set(Ctx.api.syms))
            cell.source = src

class SiteFilter(FilterDefaults):
    "nbdev's docs processors (FilterDefaults), adapted to a static Sphinx site: see module docstring."
    def base_procs(self):
        return [split_title, FrontmatterProc, title_cell, populate_language, add_show_docs, strip_ansi, hide_line,
                filter_stream_, rm_header_dash, ai_magics, clean_magics, hide_, render_show_docs, code_cells, outputs,
                add_links, site_links, strip_hidden_metadata]

def _clean(o):
    if isinstance(o, dict): return {k: _clean(v) for k, v in o.items() if not k.endswith('_') and k != 'has_sd'}
    if isinstance(o, list): return [_clean(v) for v in o]
    return o

def process_nb(path, rel, api):
    "nbs/`rel` -> nbformat dict ready for myst-nb."
    Ctx.api, Ctx.rel, Ctx.page = api, rel, page_of(rel)
    nb = read_nb(path)
    SiteFilter()(nb)
    cells = []
    for i, c in enumerate(nb.cells):
        d = {'cell_type': c.cell_type, 'id': c.get('id') or f'c{i}', 'metadata': _clean(dict(c.get('metadata', {}))),
             'source': c.source or ''}
        d['metadata'].pop('language', None)
        if c.cell_type == 'code': d.update(outputs=_clean(list(c.get('outputs', []))), execution_count=None)
        if c.cell_type == 'markdown' and c.get('attachments'):
            # inline attachments as data URIs: Sphinx resolves `attachment:` paths wrongly for notebooks in sub-folders
            for name, bundle in dict(c.attachments).items():
                mime, data = next(iter(dict(bundle).items()))
                data = ''.join(data) if isinstance(data, list) else data
                d['source'] = d['source'].replace(f'attachment:{name}', f'data:{mime};base64,{data.strip()}')
        cells.append(d)
    meta = _clean(dict(nb.get('metadata', {})))
    meta.pop('jupytext', None)
    meta.setdefault('kernelspec', {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'})
    meta['kernelspec'].setdefault('language', 'python')
    meta.setdefault('language_info', {'name': 'python'})
    return {'nbformat': 4, 'nbformat_minor': 5, 'metadata': meta, 'cells': cells}

# ---------------------------------------------------------------------------------------------------- generated pages
def api_pages(api, lesson_pages):
    "One page per module (every public exported symbol) + a highlighted source page per module."
    from pygments import highlight
    from pygments.lexers import PythonLexer
    from pygments.formatters import HtmlFormatter
    out, index = {}, []
    owner = {}    # module -> its lesson page
    for mod, syms in api.syms.items():
        pages = {v[0].partition('#')[0][:-5] for v in syms.values()}
        owner[mod] = next((p for p in sorted(pages) if p in lesson_pages), None)
    for mod in sorted(api.syms, key=lambda m: (owner.get(m) is None, lesson_pages.index(owner[m]) if owner.get(m) in lesson_pages else 0, m)):
        m, mp = api.mods.get(mod), _mod_page(mod)
        here, pyrel = f'api/{mp}', f'{mod.replace(".", "/")}.py'
        lesson = owner.get(mod)
        # the lesson's description (nbdev copies it into the module docstring, where backslashes may not survive)
        doc = _DESCS.get(lesson) or ((inspect.getdoc(m) or '').strip().split('\n\n')[0] if m else '')
        doc = _unescape(doc)
        head = [f'# {mod}\n']
        if doc: head.append(doc + '\n')
        links = []
        if lesson: links.append(f'lesson <a href="{relurl(here, lesson + ".html")}">{html.escape(_title_of(lesson))}</a>')
        links.append(f'source <a href="{relurl(here, "src/" + mp + ".html")}"><code>{pyrel}</code></a>')
        links.append(f'<a href="{CFG.git_url}/blob/{CFG.branch}/{pyrel}">GitHub</a>')
        head.append(f'<p class="nb-source">{" · ".join(links)}</p>\n')
        syms = [k for k in api.syms[mod] if _public(Api.short(k))]
        rows, body, shown = [], [], set()
        for k in syms:
            short = Api.short(k)
            obj = m
            try:
                for part in short.split('.'): obj = inspect.getattr_static(obj, part) if inspect.isclass(obj) else getattr(obj, part)
                if isinstance(obj, (staticmethod, classmethod)): obj = obj.__func__
            except Exception: obj = None
            if obj is None: continue
            first = (inspect.getdoc(obj) or '').strip().split('\n')[0] if not isinstance(obj, property) else (obj.__doc__ or '').split('\n')[0]
            anchor = api.flat[k][0].partition('#')[2]
            if '.' not in short: rows.append(f'| <a href="#{html.escape(anchor)}"><code>{html.escape(short)}</code></a> | {_cell(first)} |')
            body.append(entry_md(api, obj, short, here, level=2 if '.' not in short else 3, shown=shown, context='api'))
        table = ('| name | summary |\n| --- | --- |\n' + '\n'.join(rows) + '\n') if rows else ''
        md = '\n'.join(head) + '\n' + table + '\n' + '\n'.join(body)
        out[f'{here}.md'] = _relink(NbdevLookup().linkify(md), here)
        src_file = ROOT / pyrel
        if src_file.exists():
            code = highlight(src_file.read_text(encoding='utf-8'), PythonLexer(),
                             HtmlFormatter(linenos='inline', lineanchors='L', anchorlinenos=True))
            here_s = f'src/{mp}'
            lk = f'<a href="{relurl(here_s, "api/" + mp + ".html")}">API</a>'
            if lesson: lk += f' · generated from the lesson <a href="{relurl(here_s, lesson + ".html")}">{html.escape(_title_of(lesson))}</a>'
            lk += f' · <a href="{CFG.git_url}/blob/{CFG.branch}/{pyrel}">GitHub</a>'
            out[f'{here_s}.md'] = (f'---\norphan: true\n---\n\n# {pyrel}\n\n<p class="nb-source">{lk}</p>\n\n'
                                   f'```{{raw}} html\n<div class="highlight-python notranslate source-listing">{code}</div>\n```\n')
        index.append((mod, mp, doc, len(syms)))
    rows = '\n'.join(f'| [{mod}]({mp}.md) | {_cell(doc)} | {n} |' for mod, mp, doc, n in index)
    toc = '\n'.join(mp for _, mp, _, _ in index)
    out['api/index.md'] = (f'# API reference\n\nEvery public symbol `nbdev_export` writes to `{LIB}/`, one page per module, '
                           'generated from `' + LIB + '/_modidx.py` and the docstrings. Each entry links to the lesson '
                           'that derives it and to its source.\n\n| module | summary | symbols |\n| --- | --- | --- |\n'
                           f'{rows}\n\n```{{toctree}}\n:hidden:\n{toc}\n```\n')
    return out

def _cell(s): return s.replace('|', '\\|').replace('\n', ' ')

_TITLES = {}
def _title_of(page): return _TITLES.get(page, page)

_DESCS = {}
def _nb_title(path):
    "Title and description (`# Title` / `> description`, nbdev's convention) of a notebook."
    try:
        nb = json.loads(Path(path).read_text(encoding='utf-8'))
        for c in nb['cells']:
            if c['cell_type'] == 'markdown':
                src = _text(c['source'])
                m = re.search(r'^#\s+(\S.*?)\s*$', src, flags=re.M)
                if m:
                    d = re.findall(r'^>\s*(.*?)\s*$', src, flags=re.M)
                    return m.group(1), ' '.join(d) or None
    except Exception: pass
    return None, None

def index_toctree(pages, with_api=True):
    "Hidden toctrees for the home page: the sidebar, in reading order, grouped."
    groups, order = {}, []
    for rel, page in pages:
        if page == 'index': continue
        if len(rel.parts) > 1: cap = re.sub(r'^\d+_', '', rel.parts[0]).replace('_', ' ').capitalize()
        else:
            m = re.match(r'^(\d+)', rel.name)
            cap = next((c for lo, hi, c in GROUPS if m and lo <= int(m.group(1)) <= hi), 'More lessons')
        if cap not in groups: groups[cap] = []; order.append(cap)
        groups[cap].append(page)
    parts = [f'```{{toctree}}\n:hidden:\n:caption: {cap}\n\n' + '\n'.join(groups[cap]) + '\n```' for cap in order]
    if with_api: parts.append('```{toctree}\n:hidden:\n:caption: Reference\n\napi/index\n```')
    return '\n\n'.join(parts) + '\n'

# ---------------------------------------------------------------------------------------------------- build
def _write(path, text):
    "Write only when the content changed, so Sphinx re-reads only what changed."
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding='utf-8') == text: return False
    path.write_text(text, encoding='utf-8'); return True

def _hash(*paths):
    h = hashlib.sha256(PROC_VERSION.encode())
    for p in paths: h.update(Path(p).read_bytes() if Path(p).exists() else b'-')
    return h.hexdigest()

def refresh_quarto():
    "nbdev's own Quarto files, as `nbdev_docs` would refresh them (nbdev.yml from settings.ini, sidebar.yml from nbs/)."
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    refresh_quarto_yml()
    nbdev_sidebar.__wrapped__()

def build(clean=False, sizes=False, jobs=None, with_api=True, quarto=True):
    import resource
    t0, c0 = time.time(), time.process_time()
    if not (VENDOR / 'mathjax/es5/tex-chtml.js').exists():
        sys.exit("docs assets missing: run `python tools/docs_assets.py` (or `make docs`) once")
    if clean:
        for d in (BUILD, OUT): shutil.rmtree(d, ignore_errors=True)
    SRC.mkdir(parents=True, exist_ok=True)
    if quarto:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            refresh_quarto()
    nbs = NBS
    rels = notebooks()
    pages = [(r, page_of(r)) for r in rels]
    for r, p in pages:
        t, d = _nb_title(nbs / r)
        _TITLES[p] = t or p
        if d: _DESCS[p] = d
    lesson_pages = [p for _, p in pages]
    cache_f = BUILD / 'cache.json'
    cache = json.loads(cache_f.read_text()) if cache_f.exists() else {}
    libhash = _hash(*sorted((ROOT / LIB).glob('*.py')), ROOT / 'settings.ini', Path(__file__))   # API pages
    # a lesson page depends on its notebook, the symbol index (links, show_doc), its own module (docstrings) and this script
    basehash = _hash(ROOT / LIB / '_modidx.py', ROOT / 'settings.ini', Path(__file__))
    toc = index_toctree(pages, with_api)
    wanted, api, n_proc = set(), None, 0
    for rel, page in pages:
        dst = SRC / f'{page}.ipynb'
        wanted.add(dst)
        m = re.search(rb'#\|\s*default_exp\s+([\w.]+)', (nbs / rel).read_bytes())
        own = ROOT / LIB / (m.group(1).decode().replace('.', '/') + '.py') if m else None
        key = _hash(nbs / rel, *([own] if own else [])) + basehash + (hashlib.sha256(toc.encode()).hexdigest() if page == 'index' else '')
        if cache.get(page) == key and dst.exists(): continue
        if api is None: api = Api(lesson_pages, with_api)
        try: nb = process_nb(nbs / rel, rel, api)
        except Exception as e:
            import traceback; traceback.print_exc()
            sys.exit(f"docs: cannot process nbs/{rel}: {e.__class__.__name__}: {e}")
        if page == 'index': nb['cells'].append({'cell_type': 'markdown', 'id': 'site-toctree', 'metadata': {}, 'source': toc})
        _write(dst, json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
        cache[page] = key; n_proc += 1
    if 'index' not in lesson_pages:    # no nbs/index.ipynb yet: a plain home page from settings.ini
        dst = SRC / 'index.md'; wanted.add(dst)
        _write(dst, f'# {CFG.title}\n\n{CFG.description}\n\n{toc}')
    if with_api and (cache.get('_api') != libhash + str(lesson_pages) or not (SRC / 'api' / 'index.md').exists()):
        if api is None: api = Api(lesson_pages, with_api)
        for name, text in api_pages(api, lesson_pages).items(): _write(SRC / name, text); wanted.add(SRC / name)
        cache['_api'] = libhash + str(lesson_pages)
        cache['_api_files'] = sorted(str(p.relative_to(SRC)) for p in wanted if p.suffix == '.md')
    if with_api: wanted |= {SRC / p for p in cache.get('_api_files', [])}
    # other files from nbs/ that pages may show (images referenced by markdown)
    for f in nbs.rglob('*'):
        if f.suffix.lower() in ('.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp') and f.is_file() and \
           not any(p.startswith(('_', '.')) for p in f.relative_to(nbs).parts):
            dst = SRC / f.relative_to(nbs); wanted.add(dst)
            if not dst.exists() or dst.stat().st_mtime < f.stat().st_mtime: dst.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, dst)
    for f in list(SRC.rglob('*')):       # pages whose notebook is gone
        if f.is_file() and f not in wanted: f.unlink()
    for p in list(cache):
        if not p.startswith('_') and p not in lesson_pages: cache.pop(p)
    toc_key = hashlib.sha256(toc.encode()).hexdigest()
    write_all = cache.get('_toc') != toc_key      # the sidebar changed: every page must be written again, not only the changed ones
    cache['_toc'] = toc_key
    cache_f.write_text(json.dumps(cache, indent=1))
    t1 = time.time()
    log(f"processed {n_proc} of {len(pages)} notebooks in {t1 - t0:.1f}s")
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-c', str(CONF), '-d', str(BUILD / 'doctrees'),
           '-j', str(jobs or 'auto'), *(['-a'] if write_all else []), str(SRC), str(BUILD / 'html')]
    r = subprocess.run(cmd, cwd=ROOT)     # myst-nb writes output images beside its outdir: keep that inside BUILD
    if r.returncode: sys.exit(f"sphinx-build failed ({r.returncode})")
    _mirror(BUILD / 'html', OUT)
    wall = time.time() - t0
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + ch.ru_utime + ch.ru_stime
    log(f"site in {OUT}/ ({len(pages)} notebook pages); wall {wall:.1f}s, CPU {cpu:.1f}s (this process + sphinx)")
    if sizes: report_sizes()

def _mirror(src, dst):
    "Make `dst` a copy of `src`, copying only changed files (so a server on `dst` never sees a half-built site)."
    dst.mkdir(parents=True, exist_ok=True)
    have = {p.relative_to(src) for p in src.rglob('*') if p.is_file()}
    for rel in have:
        a, b = src / rel, dst / rel
        if b.exists() and b.stat().st_size == a.stat().st_size and b.stat().st_mtime >= a.stat().st_mtime: continue
        b.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(a, b)
    for p in sorted(dst.rglob('*'), reverse=True):
        rel = p.relative_to(dst)
        if p.is_file() and rel not in have: p.unlink()
        elif p.is_dir() and not any(p.iterdir()): p.rmdir()

def page_weight(page: Path):
    "Bytes of an HTML page plus every local script, stylesheet and image it loads (fonts and lazy assets excluded)."
    h = page.read_text(encoding='utf-8', errors='replace')
    total, seen = page.stat().st_size, set()
    for m in re.finditer(r'<(?:script|img|link)\b[^>]*?\b(?:src|href)="([^"#?]+)', h):
        u = m.group(1)
        if u.startswith(('http:', 'https:', 'data:', '//', 'mailto:')) or u in seen: continue
        tag = h[m.start():m.start() + 6]
        if tag.startswith('<link') and 'stylesheet' not in h[m.start():h.find('>', m.start())]: continue
        seen.add(u)
        f = (page.parent / u).resolve()
        if f.is_file(): total += f.stat().st_size
    return total

def report_sizes():
    rows = sorted((page_weight(p), p.relative_to(OUT).as_posix()) for p in OUT.rglob('*.html') if '_static' not in p.parts)
    for w, p in rows: print(f'{w / 1e6:8.2f} MB  {p}')
    ws = [w for w, _ in rows]
    print(f'pages: {len(ws)}; median {ws[len(ws) // 2] / 1e6:.2f} MB; largest {ws[-1] / 1e6:.2f} MB ({rows[-1][1]})')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clean', action='store_true', help='rebuild from scratch')
    ap.add_argument('--sizes', action='store_true', help='print the weight of every page')
    ap.add_argument('-j', '--jobs', default=None, help="sphinx-build -j (default 'auto')")
    ap.add_argument('--nbs', default=None, help='notebook folder (default: nbs_path of settings.ini)')
    ap.add_argument('--out', default=None, help='output folder (default: _docs)')
    ap.add_argument('--build', default=None, help='work folder (default: build/docs)')
    ap.add_argument('--no-api', action='store_true', help='skip the API reference and source pages')
    a = ap.parse_args(argv)
    global NBS, OUT, BUILD, SRC
    os.chdir(ROOT)    # nbdev's lookups (NbdevLookup in add_links, nbdev_sidebar) search from the working directory
    if a.nbs: NBS = Path(a.nbs).resolve()
    if a.out: OUT = Path(a.out).resolve()
    if a.build: BUILD = Path(a.build).resolve(); SRC = BUILD / 'src'
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / '.lock', 'w') as lock:     # one build at a time (pytest -n 2, make docs in parallel)
        fcntl.flock(lock, fcntl.LOCK_EX)
        build(clean=a.clean, sizes=a.sizes, jobs=a.jobs, with_api=not a.no_api, quarto=a.nbs is None)

if __name__ == '__main__': main()
