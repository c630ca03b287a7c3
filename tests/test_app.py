"""`difflab app` (the explorers served to a class) and `difflab sample --pretrained`.

The app test starts the real command on a free port of 127.0.0.1, opens the page in Debian's headless
chromium (Playwright), moves the α slider and sees the view change; the server is stopped by its PID and
must take its kernels with it. The command's one-line errors (port in use, Voilà missing) are checked
without a browser.

The classroom load test (`DIFFLAB_LOAD_TEST=1`, a few minutes, not part of the default run) runs
`tools/classroom_load.py`: one `difflab app`, N students (`DIFFLAB_STUDENTS`, default 10), each in a
page of its own (its own kernel) moving the α and schedule sliders for a minute, every move timed from
the key press to the new picture. The report (median and 90th percentile, kernels lost, peak memory of
the server and its kernels) goes to `test-artifacts/app_load_N.json`.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_widgets_browser import START_S, _Server, _key_latency, _new_page

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / 'difflab')


def _env(tmp: Path) -> dict:
    return dict(
        os.environ,
        OMP_NUM_THREADS='1',
        JUPYTER_RUNTIME_DIR=str(tmp / 'runtime'),
        JUPYTER_CONFIG_DIR=str(tmp / 'config'),
        IPYTHONDIR=str(tmp / 'ipython'),
        JUPYTER_PLATFORM_DIRS='1',
    )


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


# ------------------------------------------------------------------------------------ the app
@pytest.fixture(scope='module')
def app_server(tmp_path_factory):
    "`difflab app` on a free port of 127.0.0.1."
    pytest.importorskip('voila', reason='voila (pip) missing: pip install "difflab[widgets]"')
    tmp = tmp_path_factory.mktemp('app')
    srv = _Server([EXE, 'app', '--host', '127.0.0.1'], tmp, 'difflab-app')
    yield srv
    srv.stop()


def test_app_serves_the_explorers(app_server, browser, artifacts):  # noqa: F811
    "The page loads, every explorer renders, and moving the α slider changes the view and readout."
    page_ctx, page = _new_page(browser, app_server.url)
    try:
        t0 = time.perf_counter()
        page.goto(app_server.url, timeout=START_S * 1000)
        for name in ('alpha', 'schedules', 'forward', 'train'):
            page.wait_for_selector(
                f'img.difflab-{name}-image[src^="blob:"]', timeout=START_S * 1000
            )
        startup = time.perf_counter() - t0
        readout = '.difflab-alpha-readout'
        before = page.inner_text(readout)
        lat = [_key_latency(page, '.difflab-alpha-alpha', 'img.difflab-alpha-image', 'ArrowLeft')]
        page.wait_for_function(
            f"() => document.querySelector('{readout}').innerText !== {json.dumps(before)}"
        )
        assert '1.45' in page.inner_text(readout)
        page.locator('.difflab-alpha').screenshot(path=str(artifacts / 'app_alpha_1.45.png'))
        page.screenshot(path=str(artifacts / 'app_page.png'))
        printed = app_server.log_path.read_text()
        assert f'http://127.0.0.1:{app_server.port}/' in printed, printed[-2000:]
        print(f'difflab app: page with every explorer in {startup:.1f} s; α move {lat[0]:.0f} ms')
        assert not page.errors, page.errors
    finally:
        page_ctx.close()


def test_app_stops_with_its_kernels(tmp_path):
    "SIGTERM to `difflab app` (by its PID) stops the server and the kernel of the page it served."
    pytest.importorskip('voila')
    pytest.importorskip('psutil')
    srv = _Server([EXE, 'app'], tmp_path, 'difflab-app-stop')
    try:
        with urllib.request.urlopen(srv.url, timeout=START_S) as r:  # a page: a kernel
            assert r.status == 200
        kernels = _descendants(srv.proc.pid)
        assert kernels, 'no kernel started for the page'
    finally:
        srv.stop()
    time.sleep(1)
    alive = [k.pid for k in kernels if k.is_running() and k.status() != 'zombie']
    assert srv.proc.returncode is not None and not alive, alive


def _one_line_error(r, *parts):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr, r.stderr
    for part in parts:
        assert part in r.stderr, r.stderr


def test_app_port_in_use_is_one_line(tmp_path):
    import socket

    pytest.importorskip('voila')
    with socket.socket() as held:
        held.bind(('127.0.0.1', 0))
        held.listen()
        port = held.getsockname()[1]
        r = subprocess.run(
            [EXE, 'app', '--port', str(port)], capture_output=True, text=True, env=_env(tmp_path)
        )
    _one_line_error(r, f'port {port} is in use', '--port')


def test_app_without_voila_is_one_line(tmp_path):
    "Without Voilà (here: a `voila` package that cannot be imported) the error says what to install."
    fake = tmp_path / 'site' / 'voila'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text("raise ModuleNotFoundError('No module named voila', name='voila')\n")
    env = _env(tmp_path)
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path / 'site'), env.get('PYTHONPATH', '')])
    r = subprocess.run([EXE, 'app'], capture_output=True, text=True, env=env)
    _one_line_error(r, 'pip install "difflab[widgets]"')


# ------------------------------------------------------------------------ sample --pretrained
def test_sample_pretrained(tmp_path):
    import torch

    out = tmp_path / 'moons.pt'
    args = ['--pretrained', 'ddpm_moons', '--generate', '2000', '--seed', '3', '--out', str(out)]
    r = subprocess.run([EXE, 'sample', *args], capture_output=True, text=True, env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert f'wrote (2000, 2) samples of the pretrained ddpm_moons to {out}' in r.stdout
    x = torch.load(out)
    from difflab.data import toy2d
    from difflab.metrics import sliced_wasserstein

    fresh = toy2d('moons', 2000, seed=9)
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, fresh) < 0.3 * sliced_wasserstein(noise, fresh)
    again = tmp_path / 'again.pt'
    r = subprocess.run(
        [EXE, 'sample', *args[:-1], str(again)], capture_output=True, text=True, env=_env(tmp_path)
    )
    assert r.returncode == 0 and torch.equal(torch.load(again), x)  # the seed fixes the draw


@pytest.mark.parametrize(
    'args, parts',
    [
        (['--pretrained', 'nope'], ['--pretrained nope', 'ddpm_digits', 'ddpm_moons']),
        (['--pretrained', 'ddpm_moons', '--method', 'flow'], ['--method flow', '--generate']),
        (['--pretrained', 'ddpm_moons', '--generate', '0'], ['n must be']),
        (['--pretrained', 'ddpm_moons', '--sampler', 'nope'], ['sampler must be one of']),
    ],
)
def test_sample_pretrained_errors_are_one_line(args, parts, tmp_path):
    r = subprocess.run(
        [EXE, 'sample', *args, '--out', str(tmp_path / 'x.pt')],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    _one_line_error(r, *parts)


# ------------------------------------------------------------------------- classroom load
@pytest.mark.skipif(
    os.environ.get('DIFFLAB_LOAD_TEST') != '1', reason='classroom load test: DIFFLAB_LOAD_TEST=1'
)
def test_classroom_load(artifacts):
    """N students (DIFFLAB_STUDENTS, default 10) on one server, each moving sliders for a minute in
    their own page of one headless chromium (tools/classroom_load.py, Playwright's async API in a
    process of its own)."""
    pytest.importorskip('voila')
    pytest.importorskip('psutil')
    if not os.access('/usr/bin/chromium', os.X_OK):
        pytest.skip('/usr/bin/chromium not found')
    n = int(os.environ.get('DIFFLAB_STUDENTS', '10'))
    seconds = os.environ.get('DIFFLAB_LOAD_SECONDS', '60')
    out = artifacts / f'app_load_{n}.json'
    args = ['tools/classroom_load.py', '--students', str(n), '--seconds', seconds, '--json', out]
    r = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    report = json.loads(out.read_text())
    print(json.dumps(report, indent=1))
    assert report['kernels_lost'] == 0, report['errors']
    assert report['processes_left_after_stop'] == []
    assert report['median_s'] <= 1.0, report
