"""A process defined in a user's own module, outside difflab, gets everything a built-in one gets.

The module below is written to a temporary folder and imported from there; nothing in difflab is
edited. It must register, train with `fit`, sample, run through `difflab train` with
`method: mymodule:MyProcess`, and appear wherever difflab iterates its processes.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / 'difflab')

from conftest import USER_MODULE  # noqa: E402


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    (tmp_path / 'usermodule_for_tests.py').write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop('usermodule_for_tests', None)
    yield tmp_path
    sys.modules.pop('usermodule_for_tests', None)
    from difflab.core import _REGISTRY

    _REGISTRY.pop('user_line', None)


def test_user_process_registers_trains_and_samples(user_module):
    from difflab.core import make_process, process_class, processes
    from difflab.data import toy2d
    from difflab.metrics import sliced_wasserstein
    from difflab.models import TimeMLP
    from difflab.train import fit

    cls = process_class('usermodule_for_tests:MyProcess')
    assert processes()['user_line'] is cls
    assert make_process('user_line', tilt=1.5).tilt == 1.5
    torch.manual_seed(0)
    data = toy2d('moons', 2000)
    model, _ = fit(cls(), TimeMLP(), data, steps=300, batch_size=256, lr=5e-3, progress=False)
    samples = cls().sample(model, (2000, 2), steps=50)
    fresh = toy2d('moons', 2000, seed=1)
    untrained = cls().sample(TimeMLP(), (2000, 2), steps=50)
    assert sliced_wasserstein(samples, fresh) < 0.5 * sliced_wasserstein(untrained, fresh)
    with pytest.raises(ValueError, match='tilt must be in'):
        cls(tilt=3)


def test_user_process_runs_from_the_command_line(user_module, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(user_module), env.get('PYTHONPATH', '')])
    args = ['--config', 'moons_ddpm', '--root', str(tmp_path / 'runs'), '--name', 'user']
    args += ['method=usermodule_for_tests:MyProcess', 'process_args={}', 'steps=40', 'n_data=512']
    r = subprocess.run(
        [EXE, 'train', *args, '--no-progress'], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / 'runs' / 'user' / 'checkpoints' / 'latest.pt').exists()
    r = subprocess.run(
        [EXE, 'sample', '--root', str(tmp_path / 'runs'), '--name', 'user', 'n_samples=64'],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize(
    'method, message',
    [
        ('nope', "method must be one of 'ddpm'"),
        ('no_such_module_xyz:Thing', "cannot import 'no_such_module_xyz'"),
        ('math:pi', 'does not name a DiffusionProcess'),
    ],
)
def test_bad_method_is_one_line(method, message, tmp_path):
    r = subprocess.run(
        [EXE, 'train', '--config', 'moons_ddpm', '--root', str(tmp_path), f'method={method}'],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS='1'),
    )
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_notebook_class_does_not_outlive_its_notebook():
    "A process class a notebook defines is registered while it runs, then difflab's own again."
    from execnb.shell import CaptureShell

    import difflab.mdm

    first = CaptureShell()
    first.run(
        'from difflab.core import DiffusionProcess, processes\n'
        'class MDM(DiffusionProcess):\n'
        "    name = 'mdm'\n"
        "own = processes()['mdm'] is MDM"
    )
    assert first.user_ns['own']
    second = CaptureShell()  # the next notebook in the same test worker
    second.run('from difflab.core import processes\nfound = processes()["mdm"]')
    assert second.user_ns['found'] is difflab.mdm.MDM


def test_notebook_process_leaves_with_its_notebook():
    "A new process a notebook defines is gone from the registry once another notebook runs."
    from execnb.shell import CaptureShell

    first = CaptureShell()
    first.run(
        'from difflab.core import DiffusionProcess, processes\n'
        'class Toy(DiffusionProcess):\n'
        "    name = 'toy_of_a_notebook'\n"
        "here = 'toy_of_a_notebook' in processes()"
    )
    assert first.user_ns['here']
    second = CaptureShell()
    second.run("from difflab.core import processes\ngone = 'toy_of_a_notebook' not in processes()")
    assert second.user_ns['gone']
