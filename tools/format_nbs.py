#!/usr/bin/env python
"""Format the notebooks' code with ruff so that the exported library is ruff-clean too.

`ruff format` understands notebooks, but nbdev writes each exported cell into its module after a
`# %% ../nbs/<notebook> #<cell id>` line with one blank line before it, while ruff wants two blank
lines after a top-level `def` or `class`. This tool formats every notebook with ruff, exports them,
asks ruff how the modules should look, and gives each exported cell that ends before such a gap one
trailing newline, so that `nbdev_export` then writes modules that `ruff format --check` accepts.
nbdev's generated `__all__` line sits between `# fmt: off` and `# fmt: on` in two small hidden
cells at the top of each notebook, so ruff leaves nbdev's layout of that line alone.

Usage (from the project root): `python tools/format_nbs.py` (format), `--check` (exit 1 if the
notebooks or difflab/ would change).
"""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEADER = re.compile(r'^# %% \.\./nbs/(?P<nb>\S+\.ipynb) #(?P<id>\S+)$')


def _ruff(*args, stdin=None):
    "Run the ruff next to this Python (the project's venv) with the project's config."
    exe = BIN / 'ruff' if (BIN / 'ruff').exists() else 'ruff'
    cmd = [str(exe), *args, '--config', str(ROOT / 'ruff.toml')]
    return subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True)


def _export():
    "Run nbdev_export from the project root."
    exe = BIN / 'nbdev_export' if (BIN / 'nbdev_export').exists() else 'nbdev_export'
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f'nbdev_export failed:\n{r.stderr[-3000:]}')


def _blank_before_headers(text):
    "`{cell id: (previous cell id, blank lines before its header)}` for a module's text."
    lines = text.splitlines()
    out, previous = {}, None
    for i, line in enumerate(lines):
        m = HEADER.match(line)
        if line.startswith('# %% '):
            blanks = 0
            while i - blanks - 1 >= 0 and not lines[i - blanks - 1].strip():
                blanks += 1
            if m:
                out[m['id']] = (previous, blanks)
            previous = m['id'] if m else None
    return out


def _gaps():
    "Trailing newlines each exported cell needs: `{(notebook path, cell id): count}`."
    need = {}
    for module in sorted((ROOT / 'difflab').glob('*.py')):
        if module.name.startswith('_'):
            continue
        raw = module.read_text()
        formatted = _ruff('format', '--stdin-filename', str(module), '-', stdin=raw)
        if formatted.returncode:
            sys.exit(f'ruff could not format {module}:\n{formatted.stderr}')
        before, after = _blank_before_headers(raw), _blank_before_headers(formatted.stdout)
        # a module may hold cells of several notebooks (`#| export <module>` in a second notebook)
        headers = [m for m in map(HEADER.match, raw.splitlines()) if m]
        notebook_of = {m['id']: m['nb'] for m in headers}
        for cell_id, (previous, blanks) in after.items():
            extra = blanks - before.get(cell_id, (None, blanks))[1]
            if previous and extra > 0:
                need[(notebook_of[previous], previous)] = extra
        if headers and formatted.stdout.endswith('\n') and not raw.endswith('\n'):
            last = headers[-1]['id']  # cells appended by a second notebook end the file unterminated
            need[(notebook_of[last], last)] = need.get((notebook_of[last], last), 0) + 1
    return need


def _source(cell):
    return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


def _set_trailing_newlines(need):
    "Give exported cells the trailing newlines in `need`; strip them from every other cell."
    changed = []
    for path in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        if '.ipynb_checkpoints' in path.parts:
            continue
        nb = json.loads(path.read_text())
        rel = path.relative_to(ROOT / 'nbs').as_posix()
        dirty = False
        for cell in nb['cells']:
            if cell['cell_type'] != 'code':
                continue
            src = _source(cell)
            want = src.rstrip('\n') + '\n' * need.get((rel, cell.get('id')), 0)
            if want != src:
                cell['source'] = want.splitlines(keepends=True)
                dirty = True
        if dirty:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
            changed.append(rel)
    return changed


def format_all():
    "Format every notebook, then make the exported modules ruff-clean."
    r = _ruff('format', 'nbs')
    if r.returncode:
        sys.exit(f'ruff format nbs failed:\n{r.stderr}')
    _export()
    _set_trailing_newlines(_gaps())
    _export()
    r = _ruff('format', '--check', 'difflab')
    if r.returncode:
        sys.exit(f'difflab/ is still not ruff-formatted:\n{r.stdout}{r.stderr}')
    print('notebooks and difflab/ formatted')


def check():
    "Exit 1 when the notebooks' exported cells or difflab/ are not as `format_all` leaves them."
    problems = []
    r = _ruff('format', '--check', 'difflab')
    if r.returncode:
        problems.append(r.stdout.strip() or r.stderr.strip())
    if _gaps():
        problems.append('exported cells need trailing newlines: run `make format`')
    if problems:
        print('\n'.join(problems))
        print('run `make format` (tools/format_nbs.py) and commit the notebooks and difflab/')
        sys.exit(1)
    print('difflab/ is ruff-formatted')


if __name__ == '__main__':
    check() if '--check' in sys.argv[1:] else format_all()
