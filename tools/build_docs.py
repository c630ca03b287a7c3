#!/usr/bin/env python
"""Build the difflab docs site into `_docs/`, offline, from the notebooks in `nbs/` (Sphinx + myst-nb + Furo).

    python tools/build_docs.py            # incremental build (what `make docs` runs)
    python tools/build_docs.py --clean    # from scratch

1. Every notebook nbdev sees (`nbglob`), index first, goes through nbdev's own processors (`FilterDefaults`, minus
   settings.ini's `skip_procs`: `rm_export` there keeps the exported code visible). Only the steps a static Sphinx
   site needs are added; `exec_show_docs` is replaced so that no notebook code runs: each `show_doc(x)` becomes an
   autodoc entry of the exported module. Stored outputs are used as they are (CDN links pointed at the site's copy).
2. docs/conf.py: one API page per module (autosummary + autodoc), source pages (viewcode), MathJax from `_static`.
3. `sphinx-build` (incremental) into build/docs/html, mirrored to `_docs/`. Nothing is executed or downloaded.
"""
import argparse, ast, fcntl, hashlib, json, os, posixpath, re, resource, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD, OUT, CONF = ROOT / 'build' / 'docs', ROOT / '_docs', ROOT / 'docs'     # BUILD and OUT: --build, --out
VENDOR = ROOT / '.venv' / 'docs-assets' / 'static' / 'vendor'
PROC_VERSION = '2'   # bump to process every notebook again
# Sidebar captions for top-level lessons by number (nbs/NN_name.ipynb); a folder (tutorials/) is its own group
GROUPS = [(0, 9, 'Foundations'), (10, 18, 'Diffusion processes'), (19, 29, 'Plots and interactive explorers'),
          (30, 39, 'Experiments and the command line')]
FONT_AWESOME = r'https?://[\w./-]+/font-awesome/[\d.]+/css/font-awesome(\.min)?\.css'   # in to_jshtml outputs
WIDGET_VIEW, WIDGET_STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'

from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.process import Processor
from nbdev.processors import FilterDefaults, exec_show_docs
from execnb.nbio import read_nb, write_nb, mk_cell

CFG = get_config(path=ROOT)
NBS, LIB = Path(CFG.nbs_path), CFG.lib_name
DOC_URL = CFG.doc_host.rstrip('/') + '/' + CFG.doc_baseurl.strip('/') + '/'
SYMS = {}   # nbdev's symbol index (lib/_modidx.py): module -> {symbol: (doc url, file)}

def log(*a): print('[docs]', *a, flush=True)

def page_of(rel) -> str:
    "Sphinx docname of notebook `rel` (relative to nbs/), nbdev's naming: `00_core.ipynb` -> `core`."
    rel = Path(rel)
    return (rel.parent / Path(re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())).stem).as_posix()

def notebooks():
    "Notebooks nbdev sees, in reading order: index first, then by path."
    rels = [Path(f).relative_to(NBS) for f in nbglob(NBS) if '.ipynb_checkpoints' not in Path(f).parts]
    return sorted(rels, key=lambda r: (r.as_posix() != 'index.ipynb', r.parts))

# ---------------------------------------------------------------------------------------------------- processors
class split_title(Processor):
    "nbdev's frontmatter takes the whole `# Title` cell: keep the lesson text that follows the title and description."
    def begin(self):
        cell = next((c for c in self.nb.cells if c.cell_type == 'markdown'), None)
        if cell is None or not re.match(r'#\s+\S', cell.source.lstrip()): return
        lines = cell.source.splitlines()
        k = next((i for i, l in enumerate(lines) if not re.match(r'^(#\s+\S|>\s|-\s+\S.*:|\s*$)', l)), len(lines))
        if k < len(lines):
            cell.source = '\n'.join(lines[:k])
            self.nb.cells.insert(1, mk_cell('\n'.join(lines[k:]), 'markdown'))

class title_cell(Processor):
    "nbdev's frontmatter (a raw YAML cell) becomes the page title, its lead and the module it exports to."
    def begin(self):
        fm, cells = getattr(self.nb, 'frontmatter_', {}) or {}, self.nb.cells
        if cells and cells[0].cell_type == 'raw' and cells[0].source.startswith('---'): del cells[0]
        src = f"# {fm.get('title') or Path(self.nb.path_).stem}\n\n"
        if fm.get('description'): src += f":::{{container}} nb-lead\n{fm['description']}\n:::\n\n"
        where = f'nbs/{self.nb.rel_}' + (f' · module {{py:mod}}`{LIB}.{self.nb.mod_}`' if self.nb.mod_ and self.nb.api_ else '')
        cells.insert(0, mk_cell(src + f':::{{container}} nb-source\n{where}\n:::', 'markdown'))

def _resolve(expr, default_exp):
    "The exported object `expr` (as written in show_doc) names, and its dotted name where autodoc finds it."
    import importlib
    for mod in [f'{LIB}.{default_exp}'] * bool(default_exp) + sorted(SYMS):
        try: obj = eval(expr, vars(importlib.import_module(mod)))
        except Exception: continue
        parent, _, attr = expr.rpartition('.')
        owner = eval(parent, vars(importlib.import_module(mod))) if parent else None
        home = owner if isinstance(owner, type) else obj
        qual = f'{owner.__qualname__}.{attr}' if isinstance(owner, type) else getattr(obj, '__qualname__', expr)
        return obj, f'{getattr(home, "__module__", mod)}.{qual}', owner
    return None, None, None

class show_doc_entries(Processor):
    "Replaces nbdev's `exec_show_docs` (which runs the notebook): `show_doc(x)` becomes an autodoc entry of the module."
    def begin(self): self.seen = set()
    def cell(self, cell):
        if cell.cell_type != 'code' or not cell.source: return
        code = re.sub(r'^\s*#\|.*$', '', cell.source, flags=re.M)
        try: calls = [getattr(s, 'value', None) for s in ast.parse(code).body]
        except SyntaxError: return
        if not calls or not all(isinstance(c, ast.Call) and getattr(c.func, 'id', '') == 'show_doc' for c in calls): return
        parts = []
        for call in calls:
            expr = ast.unparse(call.args[0]) if call.args else ''
            obj, name, owner = _resolve(expr, self.nb.mod_)
            if obj is None:
                log(f'{self.nb.rel_}: show_doc({expr}) is not in the exported modules; left out')
                continue
            kind = ('class' if isinstance(obj, type) else 'property' if isinstance(obj, property) else
                    'method' if isinstance(owner, type) else 'function' if callable(obj) else 'data')
            label = f'({self.nb.page_}--{name})=\n' if name not in self.seen else ''
            self.seen.add(name)
            opts = '   :no-index:\n' + '   :no-members:\n' * (kind == 'class')
            parts.append(f'{label}```{{rst}}\n.. auto{kind}:: {name}\n{opts}```')
        cell.cell_type, cell.source = 'markdown', '\n\n'.join(parts)
        cell.pop('outputs', None)
        cell.pop('execution_count', None)

def directives(cell):
    "What Quarto does with `#|` lines: drop them; `echo`/`output`/`include: false` honoured; exported code tagged."
    if cell.cell_type != 'code' or cell.source is None: return
    d, tags = getattr(cell, 'directives_', None) or {}, set(cell.metadata.get('tags', []))
    off = {k for k in ('include', 'echo', 'output') if str((d.get(k + ':') or [''])[0]).strip('\'"').lower() == 'false'}
    if 'include' in off:
        cell.source = None
        return
    cell.source = re.sub(r'\A(\s*#\s*\|.*(\n|$))+', '', cell.source).strip('\n')
    if 'echo' in off or not cell.source.strip(): tags.add('remove-input')
    if 'output' in off: tags.add('remove-output')
    if d.keys() & {'export', 'exports', 'exporti'}: tags.add('export')
    if not cell.source.strip() and not cell.get('outputs'): cell.source = None
    elif tags: cell.metadata['tags'] = sorted(tags)

_CODE = re.compile(r'(```.*?```|~~~.*?~~~|`[^`\n]*`)', re.S)
_TEX = re.compile(r'\$\$.+?\$\$|(?<![\\$])\$(?=\S)[^$]+?(?<=\S)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]', re.S)
def one_line_tex(md):
    """TeX in markdown, made safe for MyST: `\\(x\\)`/`\\[x\\]` -> `$x$`/`$$x$$`, and maths over several lines on one
    line (a line inside it starting with `+ ` or `- ` would start a list and markdown would eat its backslashes)."""
    def flat(m):
        tex = m.group(0) if m.group(1) is None and m.group(2) is None else (
            f'${m.group(1)}$' if m.group(1) is not None else f'$${m.group(2)}$$')
        if '\n' not in tex or re.search(r'\n\s*\n', tex): return tex
        return ' '.join(re.sub(r'(?<!\\)%.*$', '', l).strip() for l in tex.split('\n'))
    return ''.join(p if i % 2 else _TEX.sub(flat, p) for i, p in enumerate(_CODE.split(md)))

def _text(x): return ''.join(x) if isinstance(x, list) else (x or '')

def markdown_cells(cell):
    "Markdown as MyST needs it: safe TeX (`one_line_tex`), attachments as data URIs (Sphinx misplaces `attachment:`)."
    if cell.cell_type != 'markdown' or not cell.source: return
    cell.source = one_line_tex(cell.source)
    for name, bundle in dict(cell.pop('attachments', None) or {}).items():
        mime, data = next(iter(dict(bundle).items()))
        cell.source = cell.source.replace(f'attachment:{name}', f'data:{mime};base64,{_text(data).strip()}')

class outputs(Processor):
    "Stored outputs, static-site safe: Font Awesome from the site, `\\r` progress lines collapsed, widgets without state."
    def begin(self):
        self.models = set(((self.nb.metadata.get('widgets') or {}).get(WIDGET_STATE) or {}).get('state') or {})
        self.fa = posixpath.relpath('_static', posixpath.dirname(self.nb.page_) or '.')
        self.fa += '/vendor/font-awesome/css/font-awesome.min.css'
    def cell(self, cell):
        for o in cell.get('outputs', []) if cell.cell_type == 'code' else []:
            if o.get('output_type') == 'stream': o['text'] = re.sub(r'[^\n]*\r(?!\n)', '', _text(o.get('text')))
            data = o.get('data') or {}
            if 'text/markdown' in data: data['text/markdown'] = one_line_tex(_text(data['text/markdown']))
            if 'text/html' in data: data['text/html'] = re.sub(FONT_AWESOME, self.fa, _text(data['text/html']))
            if WIDGET_VIEW in data and (data[WIDGET_VIEW] or {}).get('model_id') not in self.models:
                data.pop(WIDGET_VIEW)
                if not any(k.startswith('image/') for k in data):
                    data.clear()
                    data['text/html'] = ('<p class="widget-note">Interactive widget: run this notebook in Jupyter '
                                         'to use it (no snapshot was saved with the notebook).</p>')

class site_links(Processor):
    "After nbdev's `add_links`: its `doc_host` links become cross-references to the API entries (Sphinx checks them)."
    def begin(self):
        self.urls = {DOC_URL + v[0]: (m, k) for m, syms in SYMS.items() for k, v in syms.items()}
        self.here = posixpath.dirname(self.nb.rel_)
    def symbol(self, m):
        mod, key = self.urls.get(m.group(2), (None, None))
        if key is None or not self.nb.api_: return f'`{m.group(1)}`'       # another library's docs, or no API pages
        return f'{{py:obj}}`{m.group(1)} <{_resolve(key[len(mod) + 1:], mod[len(LIB) + 1:])[1] or key}>`'
    def notebook(self, m):    # [text](10_ddpm.ipynb#x) -> the page's name (ddpm.ipynb#x), which MyST resolves
        page = page_of(posixpath.normpath(posixpath.join(self.here, m.group(2) + '.ipynb')))
        return m.group(1) + posixpath.relpath(page, posixpath.dirname(self.nb.page_) or '.') + '.ipynb'
    def fix(self, md):
        md = re.sub(r'\[`([^`\]\n]+)`\]\((https?://[^)\s]+)\)', self.symbol, md)
        md = re.sub(r'(\]\()((?!\w+:)[^)\s#]+?)\.ipynb(?=[#)])', self.notebook, md)
        if not self.nb.api_: return md
        return re.sub(r'(?<![\[`{}])`(' + LIB + r'(?:\.\w+)+)`(?![\]`])',
                      lambda m: f'{{py:mod}}`{m.group(1)}`' if m.group(1) in SYMS else m.group(0), md)
    def cell(self, cell):
        if cell.cell_type == 'markdown' and cell.source: cell.source = self.fix(cell.source)
        for o in cell.get('outputs', []):
            if 'text/markdown' in (o.get('data') or {}): o.data['text/markdown'] = self.fix(_text(o.data['text/markdown']))

class SiteFilter(FilterDefaults):
    "nbdev's docs processors for a static site: `exec_show_docs` replaced, a few steps added (see the docstrings)."
    def base_procs(self):
        procs = [show_doc_entries if p is exec_show_docs else p for p in super().base_procs()]
        return [split_title, *procs[:1], title_cell, *procs[1:-1], directives, markdown_cells, outputs, site_links,
                procs[-1]]

# ---------------------------------------------------------------------------------------------------- pages
def index_toctree(pages, with_api):
    "Hidden toctrees for the home page: the sidebar, in reading order, grouped."
    groups = {}
    for rel, page in pages:
        if page == 'index': continue
        num = re.match(r'^(\d+)', rel.name)
        cap = re.sub(r'^\d+_', '', rel.parts[0]).replace('_', ' ').capitalize() if len(rel.parts) > 1 else next(
            (c for lo, hi, c in GROUPS if num and lo <= int(num.group(1)) <= hi), 'More lessons')
        groups.setdefault(cap, []).append(page)
    groups.update({'Reference': ['api/index']} if with_api else {})
    return ''.join(f'\n```{{toctree}}\n:hidden:\n:caption: {c}\n\n' + '\n'.join(ps) + '\n```\n' for c, ps in groups.items())

def api_index(modules):
    "The API reference: autosummary writes one page per module (docs/templates/autosummary/module.rst)."
    return ('API reference\n=============\n\nEvery module `nbdev_export` writes, from its docstrings. Each entry links to '
            'the lesson that derives it and to its source.\n\n.. autosummary::\n   :toctree: .\n\n'
            + ''.join(f'   {m}\n' for m in modules))

def lessons_index(src, pages, modules):
    "For docs/conf.py: the lesson label of every symbol shown in a lesson (the first, in reading order) and module."
    entries = {}
    for _, page in reversed(pages):
        f = src / f'{page}.ipynb'
        entries.update({m.group(2): m.group(0)[1:-2] for m in re.finditer(r'\(([\w/-]+)--([\w.]+)\)=', f.read_text())}
                       if f.exists() else {})
    return {'api': True, 'entries': entries, 'modules': modules}

# ---------------------------------------------------------------------------------------------------- build
def _write(path, text):
    "Write only when the content changed, so Sphinx re-reads only what changed."
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding='utf-8') != text: path.write_text(text, encoding='utf-8')

def _hash(*paths):
    h = hashlib.sha256(PROC_VERSION.encode())
    for p in paths: h.update(Path(p).read_bytes() if Path(p).exists() else b'-')
    return h.hexdigest()

def build(clean=False, jobs=None, with_api=True, quarto=True):
    t0, src = time.time(), BUILD / 'src'
    if not (VENDOR / 'mathjax/es5/tex-chtml.js').exists():
        sys.exit('docs assets missing: run `python tools/docs_assets.py` (or `make docs`) once')
    for folder in (BUILD / 'src', BUILD / 'doctrees', BUILD / 'html', OUT) if clean else ():
        shutil.rmtree(folder, ignore_errors=True)
    if quarto:    # nbdev's own Quarto files, refreshed as `nbdev_docs` would (for users who have Quarto)
        from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
        refresh_quarto_yml()
        nbdev_sidebar.__wrapped__()
    modidx = {}
    exec((ROOT / LIB / '_modidx.py').read_text(), modidx)
    SYMS.update(modidx['d']['syms'])
    pages = [(r, page_of(r)) for r in notebooks()]
    toc = index_toctree(pages, with_api)
    cache_f = BUILD / 'cache.json'
    cache = json.loads(cache_f.read_text()) if cache_f.exists() else {}
    base = _hash(ROOT / LIB / '_modidx.py', ROOT / 'settings.ini', Path(__file__)) + str(with_api) + toc
    modules, wanted = {}, {src / '_lessons.json'}
    for rel, page in pages:
        dst, text = src / f'{page}.ipynb', (NBS / rel).read_text(encoding='utf-8')
        mod = re.search(r'#\|\s*default_exp\s+([\w.]+)', text)
        if mod: modules.setdefault(f'{LIB}.{mod.group(1)}', page)
        wanted.add(dst)
        key = _hash(NBS / rel) + base
        if cache.get(page) == key and dst.exists(): continue
        nb = read_nb(NBS / rel)
        nb.rel_, nb.page_, nb.api_, nb.mod_ = rel.as_posix(), page, with_api, mod and mod.group(1)
        try: SiteFilter()(nb)
        except Exception as e: sys.exit(f'docs: cannot process nbs/{rel}: {e.__class__.__name__}: {e}')
        if page == 'index': nb.cells.append(mk_cell(toc, 'markdown'))
        for c in nb.cells: c.pop('has_sd', None)
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_nb(nb, dst)
        cache[page] = key
    if 'index' not in dict(pages).values():     # no nbs/index.ipynb: a plain home page from settings.ini
        wanted.add(src / 'index.md')
        _write(src / 'index.md', f'# {CFG.title}\n\n{CFG.description}\n{toc}')
    if with_api: _write(src / 'api' / 'index.rst', api_index([m for m in modules if m in SYMS] + sorted(set(SYMS) - set(modules))))
    for f in src.glob('**/*'):      # pages whose notebook is gone (api/ is autosummary's)
        if f.is_file() and f.suffix in ('.ipynb', '.md', '.json') and f not in wanted: f.unlink()
    _write(src / '_lessons.json', json.dumps(lessons_index(src, pages, modules) if with_api else {}, indent=1))
    for f in NBS.rglob('*'):   # images the markdown refers to
        dst = src / f.relative_to(NBS)
        if f.suffix.lower() in ('.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp') and f.is_file() and \
           not any(p.startswith(('_', '.')) for p in f.relative_to(NBS).parts) and \
           (not dst.exists() or dst.stat().st_mtime < f.stat().st_mtime):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dst)
    conf = _hash(*sorted(f for f in CONF.rglob('*') if f.is_file()))     # docs/conf.py or a template changed:
    fresh, cache['_conf'] = cache.get('_conf') != conf, conf              # Sphinx must read every page again
    cache_f.write_text(json.dumps(cache, indent=1))
    log(f'{len(pages)} notebooks ready in {time.time() - t0:.1f}s')
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-c', str(CONF), '-d', str(BUILD / 'doctrees'),
           '-j', str(jobs or 'auto'), *['-E'] * fresh, str(src), str(BUILD / 'html')]
    env = dict(os.environ, DIFFLAB_DOCS_SRC=str(src), PYTHONPATH=str(ROOT))
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode: sys.exit('sphinx-build failed')
    _prune(BUILD / 'html', src)
    _mirror(BUILD / 'html', OUT)
    cpu = sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ('ru_utime', 'ru_stime'))
    log(f'site in {OUT}/ ({len(pages)} notebook pages); wall {time.time() - t0:.1f}s, CPU {cpu:.1f}s (with sphinx)')

GENERATED = {'genindex', 'search', 'py-modindex'}   # pages Sphinx writes without a source


def _prune(html, src):
    """Delete pages of `html` whose source is gone from `src` (a removed notebook, an older layout).

    Sphinx never deletes an output page, and the link crawler would follow a stale page's links."""
    for page in html.rglob('*.html'):
        rel = str(page.relative_to(html))[: -len('.html')]  # 'api/difflab.core': no with_suffix
        if rel.split('/')[0] in ('_modules', '_static') or rel in GENERATED:
            continue
        if not any((src / (rel + ext)).exists() for ext in ('.md', '.ipynb', '.rst')):
            page.unlink()

def _mirror(src, dst):
    "Make `dst` a copy of `src`, copying only changed files (so a server on `dst` never sees a half-built site)."
    have = {p.relative_to(src) for p in src.rglob('*') if p.is_file()}
    for rel in have:
        a, b = src / rel, dst / rel
        if b.exists() and b.stat().st_size == a.stat().st_size and b.stat().st_mtime >= a.stat().st_mtime: continue
        b.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(a, b)
    for p in sorted(dst.rglob('*'), reverse=True):
        if p.is_file() and p.relative_to(dst) not in have: p.unlink()
        elif p.is_dir() and not any(p.iterdir()): p.rmdir()

def main(argv=None):
    global BUILD, OUT, NBS
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clean', action='store_true', help='rebuild from scratch')
    ap.add_argument('-j', '--jobs', default=None, help="sphinx-build -j (default 'auto')")
    ap.add_argument('--nbs', type=Path, help='notebook folder (default: nbs_path of settings.ini)')
    ap.add_argument('--out', type=Path, help='output folder (default: _docs)')
    ap.add_argument('--build', type=Path, help='work folder (default: build/docs)')
    ap.add_argument('--no-api', action='store_true', help='skip the API reference and source pages')
    a = ap.parse_args(argv)
    os.chdir(ROOT)    # nbdev's lookups (add_links, nbdev_sidebar) search from the working directory
    NBS, OUT, BUILD = (a.nbs or NBS).resolve(), (a.out or OUT).resolve(), (a.build or BUILD).resolve()
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / '.lock', 'w') as lock:     # one build at a time (pytest -n 2, make docs in parallel)
        fcntl.flock(lock, fcntl.LOCK_EX)
        build(clean=a.clean, jobs=a.jobs, with_api=not a.no_api, quarto=a.nbs is None)

if __name__ == '__main__': main()
