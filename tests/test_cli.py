"""End-to-end tests of the `difflab` command line (subprocesses, as a user runs it)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / 'difflab')

def run(*args, cwd=None, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout, env=env)

def test_bad_input_one_line_exit_2(tmp_path):
    for args, msg in [(['train', '--config', 'no_such'], "config 'no_such' not found"),
                      (['train', '--config', 'moons_ddpm', 'bogus=1'], "unknown config key 'bogus'"),
                      (['train', '--config', 'moons_ddpm', 'steps=abc'], 'steps must be int'),
                      (['train', '--config', 'moons_ddpm', 'process_args.T=0'], 'T must be'),
                      (['eval', '--name', 'nothing_here', '--root', str(tmp_path)], 'no run at')]:
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

def test_train_resume_eval_display_sample(tmp_path):
    base = ['--config', 'moons_ddpm', '--root', str(tmp_path), '--name', 'm', 'steps=300', 'check_every=100', 'n_samples=1000']
    r = run('train', *base, '--no-progress')
    assert r.returncode == 0, r.stderr
    assert 'examples/s' in r.stdout
    d = tmp_path / 'm'
    assert (d / 'config.yaml').exists() and (d / 'checkpoints' / 'latest.pt').exists() and (d / 'metrics.jsonl').exists()
    r = run('train', *base, '--no-progress')                      # refused: the run exists
    assert r.returncode == 2 and 'already exists' in r.stderr
    r = run('train', *base[:-3], 'steps=400', 'check_every=100', '--resume', '--no-progress')
    assert r.returncode == 0, r.stderr
    assert json.loads((d / 'metrics.jsonl').read_text().splitlines()[-1])['step'] == 400
    r = run('eval', *base)
    assert r.returncode == 0, r.stderr
    ev = json.loads((d / 'eval.json').read_text())
    assert ev['finite_fraction'] == 1.0 and ev['swd'] < 0.3 and ev['nll_nats'] is not None
    r = run('display', *base)
    assert r.returncode == 0 and (d / 'samples' / 'display.png').stat().st_size > 5000, r.stderr
    r = run('sample', *base, '--out', str(tmp_path / 's.pt'))
    assert r.returncode == 0 and (tmp_path / 's.pt').exists(), r.stderr

def test_sweep_and_index(tmp_path):
    base = ['--config', 'moons_ddpm', '--root', str(tmp_path), '--name', 'sw', 'steps=60', 'n_samples=500', 'n_data=2000', 'process_args.T=20']
    r = run('sweep', *base, '--grid', 'seed=0,1', '--index', '1')
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'sw_seed=1' / 'eval.json').exists() and not (tmp_path / 'sw_seed=0').exists()
    r = run('sweep', *base, '--grid', 'seed=0,1')
    assert r.returncode == 0, r.stderr
    md = (tmp_path / 'sw' / 'sweep.md').read_text()
    assert md.count('\n') == 4 and 'swd' in md
    assert (tmp_path / 'sw' / 'sweep.csv').exists() and (tmp_path / 'sw' / 'sweep.png').exists()
    r = run('sweep', *base, '--grid', 'seed=0,1', '--index', '5')
    assert r.returncode == 2 and '--index must be in [0, 1]' in r.stderr
