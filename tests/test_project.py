"""Project-level checks: README in sync, the library matches the notebooks, light imports."""
import subprocess, sys, json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_in_sync():
    r = subprocess.run([sys.executable, 'tools/make_readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

UI_MODULES = {'widgets', 'plots', 'cli', 'docs', 'bench'}   # allowed to import plotting / UI libraries lazily or at import

def test_import_is_light():
    "`import difflab` and every non-UI module import neither matplotlib, ipywidgets nor jupyter."
    mods = sorted(p.stem for p in (ROOT / 'difflab').glob('*.py') if not p.stem.startswith('_') and p.stem not in UI_MODULES)
    code = ("import sys, importlib, json; import difflab\n"
            f"for m in {mods!r}: importlib.import_module('difflab.' + m)\n"
            "bad = sorted({k.split('.')[0] for k in sys.modules if k.split('.')[0] in ('matplotlib', 'ipywidgets', 'jupyter', 'jupyterlab', 'IPython', 'seaborn')})\n"
            "print(json.dumps(bad))")
    r = subprocess.run([sys.executable, '-c', code], cwd='/', capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [], f"heavy imports at import time: {r.stdout}"

def test_notebooks_clean_and_small():
    for nb in (ROOT / 'nbs').rglob('*.ipynb'):
        if '.ipynb_checkpoints' in nb.parts: continue
        assert nb.stat().st_size < 1_000_000, f"{nb} is over 1 MB: strip outputs or lower figure dpi"
        d = json.loads(nb.read_text())
        for c in d['cells']:
            if c['cell_type'] == 'code': assert c.get('execution_count') is None, f"{nb}: run nbdev_clean"


def test_strip_solutions_hands_out_a_notebook_that_runs(tmp_path):
    "The teacher's command removes every solution; the checking cells then report, not raise."
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell

    nb = ROOT / 'nbs' / '09_exercises.ipynb'
    r = subprocess.run(
        [sys.executable, 'tools/strip_solutions.py', str(nb), '--out', str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and 'solution cell(s) removed' in r.stdout, r.stderr
    handout = read_nb(tmp_path / nb.name)
    sources = [c.source for c in handout.cells if c.cell_type == 'code']
    assert not any(s.split('\n')[1:2] == ['# solution'] for s in sources)
    shell = CaptureShell()
    shell.run_all(handout, exc_stop=True)  # a stub left unwritten must not stop Run All
    printed = ''.join(
        ''.join(o.get('text', '')) for c in handout.cells for o in c.get('outputs', [])
    )
    assert 'not written yet' in printed
    r = subprocess.run(
        [sys.executable, 'tools/strip_solutions.py', 'nope.ipynb', '--out', str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and 'no notebook at nope.ipynb' in r.stderr



LINE_LIMIT = 100


def test_library_lines_fit():
    "Every line of difflab/ is at most 100 characters, except nbdev's generated `__all__` block."
    long_lines = []
    for module in sorted((ROOT / 'difflab').glob('*.py')):
        if module.name == '_modidx.py':
            continue
        in_all = False
        for number, line in enumerate(module.read_text().splitlines(), 1):
            in_all = line.startswith('__all__ = [') or (in_all and line.startswith(' '))
            if len(line) > LINE_LIMIT and not in_all:
                long_lines.append(f'{module.name}:{number}: {len(line)} characters')
    assert not long_lines, '\n'.join(long_lines[:40])


def _process_notebooks():
    "The notebooks that export a registered process (found as the registry finds them)."
    from difflab.core import _defines_process

    notebooks = []
    for module in sorted((ROOT / 'difflab').glob('*.py')):
        text = module.read_text()
        if module.name.startswith('_') or not _defines_process(text):
            continue
        source = text.split('File to edit: ../nbs/', 1)[1].split('.ipynb', 1)[0]
        notebooks.append(ROOT / 'nbs' / f'{source}.ipynb')
    return notebooks


def _is_exercise(heading: str) -> bool:
    "An exercise's own heading ('Exercise 2: ...'), not the section's ('Exercises')."
    return heading.startswith('Exercise') and not heading.startswith('Exercises')


def test_process_notebooks_have_exercises_that_check_themselves():
    "Each process notebook ends with 2+ exercises: a heading, a checking cell, a hidden solution."
    notebooks = _process_notebooks()
    assert len(notebooks) >= 7, notebooks
    for path in notebooks:
        cells = json.loads(path.read_text())['cells']
        sources = [''.join(c['source']) for c in cells]
        headings = [
            i
            for i, (c, s) in enumerate(zip(cells, sources))
            if c['cell_type'] == 'markdown' and any(
                _is_exercise(line.lstrip('#').strip())
                for line in s.splitlines()
                if line.startswith('#')
            )
        ]
        assert len(headings) >= 2, f'{path.name}: {len(headings)} exercise(s)'
        for start, end in zip(headings, headings[1:] + [len(cells)]):
            block = sources[start:end]
            checks = [s for s in block if 'check(' in s or 'check_function(' in s]
            solutions = [s for s in block if '# solution' in s.split('\n')[:3] and '#| hide' in s]
            assert checks, f'{path.name}: exercise at cell {start} has no checking cell'
            assert solutions, f'{path.name}: exercise at cell {start} has no hidden solution'


def test_process_notebooks_open_with_why_and_cite_papers():
    "No file outside the repository is cited; each process notebook has a References section."
    for path in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        assert 'REFERENCE.md' not in path.read_text(), f'{path.name} cites REFERENCE.md'
    for path in _process_notebooks():
        text = path.read_text()
        assert '## References' in text, f'{path.name} has no References section'
