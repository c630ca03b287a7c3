"""Every code block shown in the README (= the docs home, both made from nbs/index.ipynb) runs as shown.

Python blocks run in a fresh interpreter, in an empty folder outside the checkout, with nothing
imported for them. Shell blocks run their `difflab ...` lines as shown, in an empty folder.
`make ...` and `pip install ...` lines are install steps: CI runs `make test` itself, the fresh-clone
check runs `make demo`, and tests/test_package.py installs the wheel as a user would.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r'^```(\w*)\n(.*?)^```', re.S | re.M)
INSTALL_STEPS = ('make ', 'pip ')


def blocks(lang):
    "The fenced code blocks of README.md in language `lang`."
    text = (ROOT / 'README.md').read_text()
    return [body for tag, body in FENCE.findall(text) if tag == lang]


def _env():
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['OMP_NUM_THREADS'] = '1'
    env['MPLBACKEND'] = 'Agg'
    return env


def test_readme_has_examples():
    assert blocks('python'), 'the README shows no Python example'
    assert blocks('sh'), 'the README shows no commands'


@pytest.mark.parametrize('index', range(len(blocks('python'))))
def test_python_block_runs_as_shown(index, tmp_path):
    code = blocks('python')[index]
    r = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=300,
    )
    assert r.returncode == 0, f'README Python block {index} fails:\n{code}\n{r.stderr[-3000:]}'


def _commands():
    "Each `difflab ...` line of the README's shell blocks, without its trailing comment."
    lines = [line.split('#')[0].strip() for body in blocks('sh') for line in body.splitlines()]
    return [line for line in lines if line and not line.startswith(INSTALL_STEPS)]


def test_shell_blocks_are_install_steps_or_difflab_commands():
    for line in _commands():
        assert line.startswith('difflab '), f'README shell line not tested here: {line!r}'


@pytest.mark.parametrize('command', _commands())
def test_shell_command_runs_as_shown(command, tmp_path):
    exe = str(Path(sys.executable).parent / 'difflab')
    args = shlex.split(command)[1:]
    r = subprocess.run(
        [exe, *args], capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=300
    )
    assert r.returncode == 0, f'README command {command!r} fails:\n{r.stderr[-3000:]}'
