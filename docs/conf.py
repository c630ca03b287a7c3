# Sphinx configuration for the difflab docs site (built by tools/build_docs.py; see docs/README.md).
# The Sphinx source tree (build/docs/src) is generated from nbs/ by nbdev's processors; nothing here executes a
# notebook. API pages: autosummary + autodoc; source pages: viewcode; everything served from the site itself.
import configparser
import json
import os
import re
import sys
from pathlib import Path

from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))          # autodoc imports this checkout's difflab
_cfg = configparser.ConfigParser()
_cfg.read(ROOT / 'settings.ini')
cfg = _cfg['DEFAULT']

project = cfg.get('title', cfg['lib_name'])
author = cfg.get('author', '')
copyright = cfg.get('copyright', '')
release = version = cfg.get('version', '')

extensions = ['myst_nb', 'sphinx.ext.mathjax', 'sphinx.ext.autodoc', 'sphinx.ext.autosummary',
              'sphinx.ext.viewcode', 'sphinx.ext.githubpages']
root_doc = 'index'
source_suffix = {'.rst': 'restructuredtext', '.ipynb': 'myst-nb', '.md': 'myst-nb'}
exclude_patterns = ['**.ipynb_checkpoints']
language = 'en'
templates_path = [str(ROOT / 'docs' / 'templates')]

# --- notebooks: render stored outputs only -------------------------------------------------------------
nb_execution_mode = 'off'                  # never run a notebook while building the docs
nb_merge_streams = True
nb_render_markdown_format = 'myst'         # text/markdown outputs may hold $maths$
# widget snapshots: the notebook's saved widget state, drawn by the HTML manager served from _static
nb_ipywidgets_js = {'vendor/widgets/dist/embed.js': {}}
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'html_image', 'html_admonition']
myst_dmath_double_inline = True
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type', 'misc.highlighting_failure',
                     'toc.not_included']

# --- API (autosummary + autodoc) and source pages (viewcode) ------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False      # nbdev's __all__ says what a module exports
autoclass_content = 'class'                # a class entry: its docstring + the signature of __init__
autodoc_typehints = 'description'          # parameters listed with their types (and meaning, see below)
autodoc_typehints_format = 'short'
autodoc_preserve_defaults = True
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'undoc-members': True, 'special-members': '__call__'}
python_use_unqualified_type_names = True
add_module_names = False                   # `bcast(t, x)`, its module is the page's title
default_role = 'py:obj'                    # `name` in a docstring links to it when it is documented
difflab_lessons = {}                       # symbol -> lesson label, module -> lesson page: written by the build
_lessons = Path(os.environ.get('DIFFLAB_DOCS_SRC', ROOT / 'build' / 'docs' / 'src')) / '_lessons.json'
if _lessons.exists():
    difflab_lessons = json.loads(_lessons.read_text())

# --- maths: MathJax 3 served from the site itself -----------------------------------------------------------
mathjax_path = 'vendor/mathjax/es5/tex-chtml.js'   # relative to _static

# --- HTML ------------------------------------------------------------------------------------------------
html_theme = 'furo'                        # system fonts only: nothing fetched from a font CDN
html_title = project
html_static_path = [str(ROOT / '.venv' / 'docs-assets' / 'static'), str(ROOT / 'docs' / 'static')]
html_css_files = ['difflab.css']
html_js_files = [('widgets_mathjax.js', {'defer': 'defer'}),    # MathJax 2 API for the widget manager
                 ('search_maths.js', {'defer': 'defer'})]      # maths in search results typeset
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {'navigation_with_keys': True, 'top_of_page_buttons': []}
html_favicon = str(ROOT / 'docs' / 'static' / 'favicon.svg')

# --- docstrings: nbdev writes them in markdown ($maths$, `code`) and documents parameters with docments ------
_CTRL = {'\x07': '\\a', '\x08': '\\b', '\x0b': '\\v', '\x0c': '\\f'}


def summary_rst(text):
    "A markdown docstring's first line made safe for autosummary's reST table: maths as :math:, `|` and `*` escaped."
    def part(m):
        if len(m.group(0)) > 1 and m.group(0)[0] in '`*':      # code, emphasis (autosummary's first sentence
            return m.group(0).replace('. ', '.\u200b ')          # must not end inside code)
        tex = m.group(1) or m.group(2)
        return ':math:`' + ' '.join(tex.split()).replace('`', r'\`') + '`' if tex else '\\' + m.group(0)
    text = re.sub(r'`[^`]*`|\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$|\*\*?\w[^*]*\w\*\*?|[|*_]',
                  part, text)
    # reST wants a space or punctuation around inline markup where markdown does not: `eta`=0 -> `eta`\ =0
    def pad(m):
        before, after = m.group(1), m.group(3)
        return (before + '\\ ' * (before not in '([{<\'":') + m.group(2)
                + '\\ ' * (after not in '.,:;!?\\/\'")]}>-') + after)
    return re.sub(r'(\S?)(`[^`\n]+`)(\S?)', pad, text)


def param_lines(obj, lines):
    """`:param x: meaning` for every parameter not in the docstring yet: its meaning where it is documented the nbdev
    way (docments, a comment after the parameter), so that each parameter is listed with its type and meaning."""
    import inspect
    from fastcore.docments import docments
    target = obj.__init__ if isinstance(obj, type) else obj
    try:
        names = [n for n, p in inspect.signature(target).parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        docs = docments(target, full=False)
    except Exception:
        return []
    have = '\n'.join(lines)
    declared = declared_params(obj)
    out = []
    for name in names:
        if name == 'self' or f':param {name}:' in have:
            continue
        if name in declared:
            kind, meaning = declared[name]
            out += [f':param {name}: {summary_rst(meaning)}'.rstrip(), f':type {name}: {kind}']
        else:
            out.append(f':param {name}: {summary_rst(docs.get(name) or "")}'.rstrip())
    return out


def declared_params(obj) -> dict:
    """`{name: (type, meaning)}` from a process class's declared `params` (difflab.core.Param):
    the type of the default, the meaning, the default and the allowed values or range."""
    params = getattr(obj, 'params', None) if isinstance(obj, type) else None
    if not isinstance(params, dict):
        return {}
    out = {}
    for name, param in params.items():
        if not hasattr(param, 'check'):
            continue
        if param.choices:
            kind = 'str' if all(isinstance(c, str) or c is None for c in param.choices) else 'object'
            allowed = 'one of ' + ', '.join(f'`{c!r}`' for c in param.choices)
        elif isinstance(param.default, bool):
            kind, allowed = 'bool', ''
        elif param.integer:
            kind, allowed = 'int', _range(param)
        else:
            kind, allowed = ('float' if param.default is not None else 'float or None'), _range(param)
        parts = [param.doc.rstrip('.')] if param.doc else []
        parts.append(f'default `{param.default!r}`')
        if allowed:
            parts.append(allowed)
        out[name] = (kind, '; '.join(parts))
    return out


def _range(param) -> str:
    "The allowed range of a numeric Param, in interval notation ('' when unbounded)."
    if param.lo is None and param.hi is None:
        return ''
    lo = '-inf' if param.lo is None else f'{param.lo:g}'
    hi = 'inf' if param.hi is None else f'{param.hi:g}'
    left = '(' if param.lo_open or param.lo is None else '['
    right = ')' if param.hi_open or param.hi is None else ']'
    return f'in {left}{lo}, {hi}{right}'


def process_docstring(app, what, name, obj, options, lines):
    "Markdown docstrings rendered by MyST, parameters' meanings, and the link between an API entry and its lesson."
    text = re.sub('[\x07\x08\x0b\x0c]', lambda m: _CTRL[m.group(0)], '\n'.join(lines))   # '\alpha' without r''
    opts = options if isinstance(options, dict) else {k.replace('_', '-'): v for k, v in vars(options).items()}
    if not opts:               # autosummary's table asks for a one-line summary, read as reST
        lines[:] = summary_rst(text).split('\n')
        return
    lines[:] = ['.. markdown::', ''] + ['   ' + line for line in text.split('\n')] if text.strip() else []
    if what in ('class', 'function', 'method'):
        lines.extend([''] + param_lines(obj, lines))
    lessons = app.config.difflab_lessons
    if opts.get('no-index') or opts.get('noindex'):        # the entry inside a lesson
        if lessons.get('api'):
            lines.extend(['', f'*API reference:* :py:obj:`{name}`'])
    elif what == 'module' and name in lessons.get('modules', {}):
        lines.extend(['', f"*Lesson:* :doc:`/{lessons['modules'][name]}`"])
    elif name in lessons.get('entries', {}):
        lines.extend(['', f"*Lesson:* :ref:`{name.rsplit('.', 1)[-1]} <{lessons['entries'][name]}>`"])


class Markdown(SphinxDirective):
    "reST directive whose content is MyST markdown (nbdev's docstrings), parsed into the current page."
    has_content = True

    def run(self):
        from docutils.utils import new_document
        from myst_parser.parsers.sphinx_ import MystParser
        doc = new_document(self.env.docname, self.state.document.settings)
        MystParser().parse('\n'.join(self.content), doc)
        return list(doc.children)


class Rst(SphinxDirective):
    """MyST's `eval-rst`, without its padding: eval-rst parses "\\n" * line + text, and a notebook's lines are
    numbered 10000 * cell, so each block cost a parse of up to a million empty lines. Lessons' autodoc entries use this."""
    has_content = True

    def run(self):
        from docutils.utils import new_document
        from myst_parser.mocking import MockRSTParser
        doc = new_document(self.env.docname, self.state.document.settings)
        doc.reporter = self.state.document.reporter
        MockRSTParser().parse('\n'.join(self.content), doc)
        return list(doc.children)


def unlink_lesson_copies(app, doctree):
    "viewcode links the source back to the page that documents an object: not to a lesson's unindexed copy."
    from sphinx import addnodes
    for node in doctree.findall(addnodes.desc):
        if node.get('no-index'):
            for sig in node.findall(addnodes.desc_signature):
                sig['module'] = ''


def setup(app):
    app.add_config_value('difflab_lessons', {}, 'env')
    app.connect('autodoc-process-docstring', process_docstring)
    app.add_directive('markdown', Markdown)
    app.add_directive('rst', Rst)
    app.connect('doctree-read', unlink_lesson_copies, priority=400)    # before viewcode's handler
