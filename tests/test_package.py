"""The wheel carries everything the installed package needs at run time.

Builds the wheel, installs it into a fresh virtual environment outside the repository and runs a tiny
train-and-sample there, from a working directory outside the checkout. Third-party dependencies are
taken from the project's environment (made visible through a .pth file) so the test needs no network
and runs in seconds; the project's own editable install is not visible there, so `difflab` can only
come from the wheel.
"""
import subprocess, sys, sysconfig, venv, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def test_wheel_installs_and_runs(tmp_path):
    dist = tmp_path / 'dist'
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(dist), str(ROOT)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    wheel = next(dist.glob('difflab-*.whl'))
    env = tmp_path / 'env'
    venv.EnvBuilder(with_pip=False).create(env)
    py = env / 'bin' / 'python'
    site = Path(subprocess.check_output([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip())
    # third-party packages from the project environment, but not its editable difflab
    (site / 'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(site), str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    work = tmp_path / 'work'; work.mkdir()
    script = textwrap.dedent("""
        import torch, difflab, pathlib
        from difflab.data import toy2d
        from difflab.ddpm import DDPM
        from difflab.models import TimeMLP
        from difflab.train import fit
        assert difflab.__file__.startswith(SITE), difflab.__file__
        torch.manual_seed(0)
        proc = DDPM(T=50)
        model, hist = fit(proc, TimeMLP(), toy2d('moons', 512), steps=20, batch_size=64, progress=False)
        x = proc.sample(model, (16, 2), steps=10)
        assert x.shape == (16, 2) and torch.isfinite(x).all()
        from difflab.core import shipped_path
        shipped = sorted(p.name for p in (pathlib.Path(difflab.__file__).parent / 'shipped').iterdir())
        print('ok', difflab.__file__, shipped)
    """)
    script = f"SITE = {str(site)!r}\n" + script
    r = subprocess.run([str(py), '-c', script], capture_output=True, text=True, cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert r.stdout.startswith('ok'), r.stdout
