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
