#!/usr/bin/env python
"""Generate README.md from nbs/index.ipynb without Quarto.

Markdown cells are copied; code cells become fenced Python blocks (nbdev directives removed,
`#| hide` cells dropped); text outputs follow as plain blocks. `--check` exits 1 when README.md
is out of date, so a test can keep the two in sync.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTICE = "<!-- generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook, not this file -->\n\n"

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _directives(src):
    lines = src.splitlines()
    dirs = [l[3:].strip() for l in lines if l.startswith('#|')]
    body = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
    return dirs, body

def _outputs(cell):
    out = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': txt = o.get('text', '')
        elif 'data' in o and 'text/markdown' in o['data']: out.append(''.join(o['data']['text/markdown']).strip()); continue
        elif 'data' in o and 'text/plain' in o['data'] and 'image/png' not in o['data']: txt = o['data']['text/plain']
        else: continue
        txt = ''.join(txt) if isinstance(txt, list) else txt
        if txt.strip(): out.append('```\n' + txt.rstrip('\n') + '\n```')
    return out

def render(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    parts = []
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown':
            if src.strip(): parts.append(src.strip())
        elif cell['cell_type'] == 'code':
            dirs, body = _directives(src)
            if any(d.split(':')[0].strip() in ('hide', 'exec_doc') or d.startswith('include: false') for d in dirs): continue
            if any(d.startswith('echo: false') for d in dirs): body = ''
            if body.strip(): parts.append('```python\n' + body + '\n```')
            parts += _outputs(cell)
    return NOTICE + '\n\n'.join(parts) + '\n'

def main(argv=sys.argv[1:]):
    text, readme = render(), ROOT / 'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print("README.md is out of date with nbs/index.ipynb: run `make readme`"); return 1
        print("README.md is in sync with nbs/index.ipynb"); return 0
    readme.write_text(text, encoding='utf-8'); print(f"wrote {readme}"); return 0

if __name__ == '__main__': sys.exit(main())
