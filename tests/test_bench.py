"""`difflab bench --quick`: the performance suite runs end to end and writes strict JSON of finite, positive numbers.

Timings are measured, never asserted: they depend on the machine and its load."""
import json, math, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / 'difflab')

def numbers(obj, path=''):
    "Every int/float leaf of a JSON tree as (path, value); booleans, strings and nulls are not numbers."
    if isinstance(obj, dict):
        for k, v in obj.items(): yield from numbers(v, f'{path}.{k}')
    elif isinstance(obj, list):
        for i, v in enumerate(obj): yield from numbers(v, f'{path}[{i}]')
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool): yield path, obj

def test_bench_quick(tmp_path):
    out = tmp_path / 'tmp.json'
    r = subprocess.run([EXE, 'bench', '--quick', '--json', str(out)], capture_output=True, text=True, cwd=tmp_path,
                       timeout=900, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'process overhead' in r.stdout and 'alpha-stable sampler' in r.stdout, r.stdout[-2000:]
    res = json.loads(out.read_text(), parse_constant=lambda c: pytest_fail(f'non-strict JSON constant {c}'))
    assert set(res) >= {'meta', 'overhead', 'overhead_detail', 'stable', 'time_to_quality', 'sampling', 'oracle_sampling',
                        'diffusers', 'scaling', 'threads', 'gpu'}, sorted(res)
    assert res['meta']['quick'] is True
    assert set(res['overhead']) == {'2d', 'digits'}
    for kind in ('2d', 'digits'):
        assert {'ddpm', 'dlpm', 'lim', 'reflected', 'infodiff'} <= set(res['overhead'][kind]), res['overhead'][kind]
        assert all(isinstance(v, float) for v in res['overhead'][kind].values())
    assert {'randn', 'stable', 'stable_isotropic', 'scipy'} <= set(res['stable']['draws_per_s'])
    assert {'ddpm', 'dlpm', 'lim', 'reflected', 'infodiff'} <= set(res['time_to_quality']) <= set(res['sampling'])
    assert {'ancestral', 'ddim'} <= set(res['sampling']['ddpm']) and {'dlpm', 'dlim'} <= set(res['sampling']['dlpm'])
    assert set(res['threads']) == {'small', 'large'} and res['threads']['small']['auto'] >= 1
    measured = {k: v for k, v in res.items() if k != 'meta'}
    vals = list(numbers(measured))
    assert len(vals) > 100, len(vals)
    bad = [(p, v) for p, v in vals if not (math.isfinite(v) and v > 0)]
    assert not bad, bad[:10]

def test_diffusers_is_imported_lazily():
    "diffusers is a `bench` extra: importing difflab, its bench module and its CLI never imports it."
    code = "import sys, difflab, difflab.bench, difflab.cli; assert 'diffusers' not in sys.modules"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]

def test_diffusers_section_skipped_without_diffusers(monkeypatch):
    "Without diffusers the side-by-side prints one line and returns a note instead of failing."
    from difflab.bench import bench_diffusers
    monkeypatch.setitem(sys.modules, 'diffusers', None)          # `import diffusers` now raises ImportError
    lines = []
    assert bench_diffusers(out=lines.append) == {'skipped': 'diffusers is not installed'}
    assert len(lines) == 1 and 'skipped' in lines[0] and 'difflab[bench]' in lines[0]

def test_diffusers_section_side_by_side():
    "With diffusers: every pair measured, finite; DPM-Solver++ no worse than diffusers' at 10 evaluations."
    pytest.importorskip('diffusers')
    from difflab.bench import bench_diffusers, PEERS
    res = bench_diffusers(steps=(10,), n=3000, seeds=1, out=lambda *a: None)
    assert set(res['swd']) == {'difflab ddim', 'difflab dpm_solver'} | {f'diffusers {k}' for k in PEERS}
    assert all(math.isfinite(v) and v > 0 for row in res['swd'].values() for v in row.values())
    assert set(res['ratio']) == {f'{mine} / {name}' for name, (_, mine) in PEERS.items()}
    assert res['ratio']['dpm_solver / DPMSolverMultistepScheduler']['10'] < 1.1, res['ratio']
    assert res['swd']['difflab dpm_solver']['10'] < 0.6 * res['swd']['difflab ddim']['10'], res['swd']

def pytest_fail(msg):
    raise AssertionError(msg)
