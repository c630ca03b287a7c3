# Sphinx configuration for the difflab docs site (built by tools/build_docs.py; see docs/README.md).
# The Sphinx source tree (build/docs/src) is generated from nbs/ by nbdev's processors; nothing here executes a notebook.
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_cfg = configparser.ConfigParser(); _cfg.read(ROOT / 'settings.ini')
cfg = _cfg['DEFAULT']

project = cfg.get('title', cfg['lib_name'])
author = cfg.get('author', '')
copyright = cfg.get('copyright', '')
release = version = cfg.get('version', '')

extensions = ['myst_nb', 'sphinx.ext.mathjax', 'sphinx.ext.githubpages']
root_doc = 'index'
source_suffix = {'.ipynb': 'myst-nb', '.md': 'myst-nb'}
exclude_patterns = ['**.ipynb_checkpoints']
language = 'en'

# --- notebooks: render stored outputs only -------------------------------------------------------------
nb_execution_mode = 'off'                  # never run a notebook while building the docs
nb_merge_streams = True
nb_render_markdown_format = 'myst'         # text/markdown outputs may hold $maths$
# widget snapshots: the notebook's saved widget state, drawn by the HTML manager served from _static (no CDN, no kernel)
nb_ipywidgets_js = {'vendor/widgets/dist/embed.js': {}}
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'html_image', 'html_admonition']
myst_dmath_double_inline = True
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'myst.xref_missing', 'mystnb.unknown_mime_type', 'misc.highlighting_failure',
                     'toc.not_included']

# --- maths: MathJax 3 served from the site itself -----------------------------------------------------------
mathjax_path = 'vendor/mathjax/es5/tex-chtml.js'   # relative to _static

# --- HTML ------------------------------------------------------------------------------------------------
html_theme = 'furo'                        # system fonts only: nothing fetched from a font CDN
html_title = project
html_static_path = [str(ROOT / '.venv' / 'docs-assets' / 'static'), str(ROOT / 'docs' / 'static')]
html_css_files = ['difflab.css']
html_js_files = [('widgets_mathjax.js', {'defer': 'defer'})]   # MathJax 2 API for the widget manager
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {'navigation_with_keys': True, 'top_of_page_buttons': []}
templates_path = []
html_favicon = str(ROOT / 'docs' / 'static' / 'favicon.svg')
