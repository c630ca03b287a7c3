"""`difflab app` (the explorers served to a class) and `difflab sample --pretrained`.

The app test starts the real command on a free port of 127.0.0.1, opens the page in Debian's headless
chromium (Playwright), moves the α slider and sees the view change; the server is stopped by its PID and
must take its kernels with it. The command's one-line errors (port in use, Voilà missing) are checked
without a browser.

The classroom load test (`DIFFLAB_LOAD_TEST=1`, a few minutes, not part of the default run) serves one
`difflab app` to simulated students: each opens the page (its own kernel), then, as a websocket client
speaking the Jupyter widget protocol, moves the α and schedule sliders for a minute and times each move
from the message sent to the new picture received. It reports the median and 90th percentile response,
kernels lost, and the peak memory (RSS of the server and its kernels) to `test-artifacts/app_load.json`.
"""

import json
import os
import random
import re
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
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
def _decode(frame) -> dict:
    "A Jupyter message from a websocket frame: JSON text, or the binary form with buffers."
    if isinstance(frame, str):
        return json.loads(frame)
    count = struct.unpack('!I', frame[:4])[0]
    offsets = list(struct.unpack('!' + 'I' * count, frame[4 : 4 * (count + 1)])) + [len(frame)]
    msg = json.loads(frame[offsets[0] : offsets[1]])
    msg['buffers'] = [frame[offsets[i] : offsets[i + 1]] for i in range(1, count)]
    return msg


class Student:
    """One simulated student: opens the page (Voilà starts a kernel and draws the explorers), then moves
    sliders over the kernel's websocket as the browser would, timing each move to its new picture."""

    def __init__(self, base: str, seed: int):
        self.base, self.rng = base, random.Random(seed)
        self.session, self.latencies, self.errors = uuid.uuid4().hex, [], []
        self.lost, self.moves, self.open_s = False, 0, None

    def open(self):
        t0 = time.perf_counter()
        with urllib.request.urlopen(self.base, timeout=900) as r:
            html = r.read().decode()
        self.open_s = time.perf_counter() - t0
        self.kernel = re.search(r'kernelId": "([0-9a-f-]{36})', html).group(1)

    def _send(self, msg_type: str, content: dict, channel='shell', metadata=None):
        header = dict(
            msg_id=uuid.uuid4().hex,
            username='student',
            session=self.session,
            msg_type=msg_type,
            version='5.3',
            date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        )
        message = dict(header=header, parent_header={}, metadata=metadata or {}, content=content)
        self.ws.send(json.dumps(dict(message, channel=channel, buffers=[])))
        return header['msg_id']

    def _next(self, timeout: float) -> dict:
        self.ws.settimeout(timeout)
        return _decode(self.ws.recv())

    def connect(self):
        import websocket

        url = self.base.replace('http', 'ws', 1) + f'api/kernels/{self.kernel}/channels'
        self.ws = websocket.create_connection(f'{url}?session_id={self.session}', timeout=60)
        # the server nudges the kernel when a websocket opens: wait until a request is answered,
        # then open the widget control comm and wait until it is open, then ask for the states
        self._wait_idle(self._send('kernel_info_request', {}))
        control = uuid.uuid4().hex
        opened = dict(comm_id=control, target_name='jupyter.widget.control', data={})
        self._wait_idle(self._send('comm_open', opened, metadata=dict(version='1.0.0')))
        self._send('comm_msg', dict(comm_id=control, data=dict(method='request_states')))
        deadline = time.time() + 120
        while time.time() < deadline:
            msg = self._next(120)
            data = msg.get('content', {}).get('data', {})
            if msg['header']['msg_type'] == 'comm_msg' and data.get('method') == 'update_states':
                self._models(data['states'])
                return
        raise TimeoutError('no widget states from the kernel')

    def _wait_idle(self, msg_id: str, timeout: float = 120):
        "Read messages until the kernel is idle after request `msg_id`."
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self._next(timeout)
            idle = msg.get('content', {}).get('execution_state') == 'idle'
            if idle and msg.get('parent_header', {}).get('msg_id') == msg_id:
                return
        raise TimeoutError(f'no answer from the kernel to {msg_id}')

    def _models(self, states: dict):
        "Find the sliders and images of the α and schedule explorers by their CSS classes."
        found = {}
        for model_id, model in states.items():
            for cls in model['state'].get('_dom_classes', []):
                found[cls] = (model_id, model['state'])
        self.alpha = found['difflab-alpha-alpha']
        self.alpha_image = found['difflab-alpha-image'][0]
        self.schedule_image = found['difflab-schedules-image'][0]
        self.schedule_sliders = [
            v
            for k, v in found.items()
            if k.startswith('difflab-schedules-') and 'min' in v[1] and 'max' in v[1]
        ]

    def move(self, slider, image: str):
        "Set a slider to a random value of its range; seconds until the new picture arrives."
        model_id, state = slider
        steps = round((state['max'] - state['min']) / state['step'])
        value = state['min'] + self.rng.randint(0, steps) * state['step']
        t0 = time.perf_counter()
        data = dict(method='update', state=dict(value=value), buffer_paths=[])
        self._send('comm_msg', dict(comm_id=model_id, data=data))
        while True:
            msg = self._next(60)
            content = msg.get('content', {})
            if msg['header']['msg_type'] == 'status' and content.get('execution_state') == 'dead':
                raise RuntimeError('kernel died')
            picture = content.get('data', {}).get('buffer_paths') == [['value']]
            if content.get('comm_id') == image and picture:
                self.moves += 1
                return time.perf_counter() - t0

    def run(self, seconds: float, think=(0.5, 1.5)):
        end = time.time() + seconds
        try:
            while time.time() < end:
                if self.rng.random() < 0.5:
                    self.latencies.append(self.move(self.alpha, self.alpha_image))
                else:
                    slider = self.rng.choice(self.schedule_sliders)
                    self.latencies.append(self.move(slider, self.schedule_image))
                time.sleep(self.rng.uniform(*think))
        except Exception as e:  # a lost kernel or connection: counted, not raised
            self.lost, self.errors = True, [f'{type(e).__name__}: {e}']


class _Memory(threading.Thread):
    "Samples the RSS of a server and all its descendants every half second; keeps the peak."

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_kernels, self.done = pid, 0, 0, threading.Event()

    def run(self):
        import psutil

        server = psutil.Process(self.pid)
        while not self.done.is_set():
            try:
                kids = server.children(recursive=True)
                total = server.memory_info().rss + sum(k.memory_info().rss for k in kids)
                if total > self.peak:
                    self.peak, self.peak_kernels = total, len(kids)
            except psutil.Error:
                pass
            time.sleep(0.5)


@pytest.mark.skipif(
    os.environ.get('DIFFLAB_LOAD_TEST') != '1', reason='classroom load test: DIFFLAB_LOAD_TEST=1'
)
def test_classroom_load(tmp_path, artifacts):
    "N students (DIFFLAB_STUDENTS, default 10) on one server, each moving sliders for a minute."
    pytest.importorskip('voila')
    pytest.importorskip('websocket', reason='websocket-client (pip) missing')
    pytest.importorskip('psutil')
    n = int(os.environ.get('DIFFLAB_STUDENTS', '10'))
    seconds = float(os.environ.get('DIFFLAB_LOAD_SECONDS', '60'))
    srv = _Server([EXE, 'app'], tmp_path, 'difflab-app-load')
    memory = _Memory(srv.proc.pid)
    memory.start()
    students = [Student(srv.url, seed) for seed in range(n)]
    try:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=s.open) for s in students]
        for th in threads:
            th.start()
            time.sleep(0.5)  # a class arriving within seconds of each other
        for th in threads:
            th.join()
        for s in students:
            s.connect()
        ready_s = time.perf_counter() - t0
        runs = [threading.Thread(target=s.run, args=(seconds,)) for s in students]
        for th in runs:
            th.start()
        for th in runs:
            th.join()
        alive = len(_descendants(srv.proc.pid))
    finally:
        memory.done.set()
        srv.stop()
    lat = sorted(x for s in students for x in s.latencies)
    report = dict(
        students=n,
        seconds=seconds,
        cpus=os.cpu_count(),
        load_before=os.getloadavg(),
        moves=len(lat),
        median_s=statistics.median(lat),
        p90_s=lat[int(0.9 * (len(lat) - 1))],
        max_s=lat[-1],
        page_open_s=sorted(round(s.open_s, 1) for s in students),
        all_ready_s=round(ready_s, 1),
        kernels_lost=sum(s.lost for s in students),
        errors=[e for s in students for e in s.errors],
        processes_at_end=alive,
        peak_rss_mb=round(memory.peak / 2**20),
        peak_processes=memory.peak_kernels,
    )
    (artifacts / f'app_load_{n}.json').write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    assert report['kernels_lost'] == 0, report['errors']
    assert report['median_s'] <= 1.0, report
