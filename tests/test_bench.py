"""`difflab bench --quick`: the performance suite runs end to end and writes strict JSON of finite, positive numbers.

Timings are measured, never asserted: they depend on the machine and its load."""
import json, math, os, subprocess, sys
from pathlib import Path

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
                        'scaling', 'threads', 'gpu'}, sorted(res)
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

def pytest_fail(msg):
    raise AssertionError(msg)
