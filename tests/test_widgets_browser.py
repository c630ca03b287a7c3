"""The explorers of `difflab.widgets` in a real browser, and with processes they have never heard of.

Voilà serves `nbs/_widgets_app.ipynb` on 127.0.0.1 and Debian's headless chromium, driven by Playwright, moves the
sliders: the α slider changes the figure and the readout; every schedule slider (one per parameter that moves a
process's curves, found by the view) redraws; the forward explorer at two values of t shows two different pictures,
scrubs the reverse chain of the shipped pretrained digits model, and shows a process's own parameter sliders;
train-and-sample runs from the button, its scrubber moves along the reverse chain, and *Sample pretrained* gives the
shipped model's chain without training. The re-render latency of every slider (key press -> new image decoded) is
measured in the page and written to `test-artifacts/widgets_latency.json`; it is reported, not asserted (timings
are benchmarks, not tests). One JupyterLab smoke test opens a copy of the notebook, runs all cells and waits for the
widgets. Screenshots are kept in `test-artifacts/`. Servers run on free ports and are stopped by their PID.

Without a browser: a process defined in a user's own module (written to a temporary folder and imported) appears in
every explorer with a slider for its `Param`, and a process whose constructor raises stays listed and shows its error.
"""
import json, os, shutil, signal, socket, statistics, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / 'nbs' / '_widgets_app.ipynb'
BIN = Path(sys.executable).parent
START_S = 240          # kernel start + imports + first renders; generous for a loaded 2-core machine

# ------------------------------------------------------------------------------------------ servers
def _free_port() -> int:
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    return port

class _Server:
    "A Jupyter-family server on 127.0.0.1:port, with its own runtime/config dirs, stopped by PID."
    def __init__(self, args, tmp: Path, name: str):
        self.port, self.log_path = _free_port(), tmp / f'{name}.log'
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / 'runtime'), JUPYTER_CONFIG_DIR=str(tmp / 'config'),
                   IPYTHONDIR=str(tmp / 'ipython'), JUPYTER_PLATFORM_DIRS='1', PYTHONUNBUFFERED='1')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen([*args, f'--port={self.port}'], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while True:
            try: socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close(); break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop(); raise RuntimeError(f'{name} did not start:\n{self.log_path.read_text()[-3000:]}')
                time.sleep(0.2)
        self.url = f'http://127.0.0.1:{self.port}/'

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try: self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired: os.kill(self.proc.pid, signal.SIGKILL); self.proc.wait(timeout=10)
        self.log.close()

# ------------------------------------------------------------------------------------------ fixtures
# `browser`: the session's one chromium (tests/conftest.py)

def _new_page(browser, base):
    "A page that refuses every request not to `base` (the test must not depend on the network) and records them."
    ctx = browser.new_context(viewport={'width': 1300, 'height': 950})
    ctx.blocked = []
    def route(r):
        u = r.request.url
        if u.startswith(base) or u.startswith(('data:', 'blob:', 'ws://127.0.0.1')): return r.continue_()
        ctx.blocked.append(u); return r.abort()
    ctx.route('**/*', route)
    page = ctx.new_page()
    page.errors = []
    page.on('pageerror', lambda e: page.errors.append(str(e)))
    return ctx, page

@pytest.fixture(scope='module')
def app(browser, tmp_path_factory):
    "The explorers served by Voilà and open in a page, every explorer rendered."
    pytest.importorskip('voila', reason='voila (pip) missing: pip install voila')
    tmp = tmp_path_factory.mktemp('voila')
    srv = _Server([str(BIN / 'voila'), str(APP), '--no-browser', '--Voila.ip=127.0.0.1',
                   '--VoilaConfiguration.show_tracebacks=True'], tmp, 'voila')
    ctx = None
    try:
        ctx, page = _new_page(browser, srv.url)
        t0 = time.perf_counter()
        page.goto(srv.url, timeout=START_S * 1000)
        for name in ('alpha', 'schedules', 'forward', 'train'):
            page.wait_for_selector(f'img.difflab-{name}-image[src^="blob:"]', timeout=START_S * 1000)
        page.startup_s = time.perf_counter() - t0
        yield page
        if ctx.blocked: print(f'external requests refused (Voilà template assets): {sorted(set(ctx.blocked))[:5]}')
    finally:
        if ctx is not None: ctx.close()
        srv.stop()

# ------------------------------------------------------------------------------------------ helpers
sys.path.insert(0, str(ROOT / 'tools'))
from classroom_load import ARM  # noqa: E402  (key press -> new picture, timed in the page)

def _src(page, img): return page.get_attribute(img, 'src')
def _text(page, sel): return page.inner_text(sel)

def _key_latency(page, slider_sel, img_sel, key='ArrowRight', timeout=60):
    "Focus a slider handle, press `key`, return ms from the key press to the new image decoded in the page."
    before = _src(page, img_sel)
    page.evaluate(ARM, [img_sel, key])
    page.focus(f'{slider_sel} .noUi-handle')
    page.keyboard.press(key)
    page.wait_for_function('window.__lat !== null', timeout=timeout * 1000)
    assert _src(page, img_sel) != before
    return page.evaluate('window.__lat')

def _set_readout(page, slider_sel, img_sel, value, timeout=60):
    "Type `value` into a slider's editable readout and press Enter; returns the latency from Enter to the new image (ms)."
    page.evaluate(ARM, [img_sel, 'Enter'])
    ro = page.locator(f'{slider_sel} .widget-readout')
    ro.click(); page.keyboard.press('Control+A'); page.keyboard.type(str(value)); page.keyboard.press('Enter')
    page.wait_for_function('window.__lat !== null', timeout=timeout * 1000)
    return page.evaluate('window.__lat')

def _shot(page, sel, path):
    page.locator(sel).first.scroll_into_view_if_needed()
    page.locator(sel).first.screenshot(path=str(path))
    return path.read_bytes()

def _record(artifacts, key, value):
    f = artifacts / 'widgets_latency.json'
    d = json.loads(f.read_text()) if f.exists() else {}
    d[key] = value
    f.write_text(json.dumps(d, indent=1))

# ------------------------------------------------------------------------------------------ tests
def test_alpha_slider_changes_figure_and_readout(app, artifacts):
    page = app
    img, sl, ro = 'img.difflab-alpha-image', '.difflab-alpha-alpha', '.difflab-alpha-readout'
    shot0 = _shot(page, '.difflab-alpha', artifacts / 'widgets_alpha_1.50.png')
    read0 = _text(page, ro)
    assert '1.50' in page.inner_text(f'{sl} .widget-readout')
    lat = [_key_latency(page, sl, img, 'ArrowLeft') for _ in range(4)]          # 1.50 -> 1.30
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText !== {json.dumps(read0)}")
    read1 = _text(page, ro)
    assert read1 != read0 and '1.30' in read1 and '1.30' in page.inner_text(f'{sl} .widget-readout')
    shot1 = _shot(page, '.difflab-alpha', artifacts / 'widgets_alpha_1.30.png')
    assert shot1 != shot0
    lat += [_key_latency(page, sl, img, 'ArrowRight') for _ in range(2)]
    lat_scale = [_key_latency(page, '.difflab-alpha-scale', img, k) for k in ('ArrowRight', 'ArrowLeft', 'ArrowRight')]
    _record(artifacts, 'alpha', lat); _record(artifacts, 'alpha_scale', lat_scale)
    _record(artifacts, 'voila_startup_s', round(page.startup_s, 1))
    print(f'alpha slider latency ms: {[round(x) for x in lat]} (median {statistics.median(lat):.0f}); scale: {[round(x) for x in lat_scale]}')
    assert not page.errors, page.errors

def test_schedule_sliders(app, artifacts):
    "Every slider of the schedule explorer (one per parameter that moves a process's curves) redraws it."
    page, img = app, 'img.difflab-schedules-image'
    names = page.evaluate("""() => [...document.querySelectorAll('.difflab-schedules .widget-slider')]
        .map(e => [...e.classList].find(c => c.startsWith('difflab-schedules-')))""")
    names = [n[len('difflab-schedules-'):] for n in names if n]
    assert {'infodiff-loc', 'mdm-beta1'} <= set(names), names
    out = {}
    for name in names:
        out[name] = [_key_latency(page, f'.difflab-schedules-{name}', img, key) for key in ('ArrowLeft', 'ArrowRight')]
    _record(artifacts, 'schedules', out)
    _shot(page, '.difflab-schedules', artifacts / 'widgets_schedules.png')
    print('schedule slider latency ms:', {k: [round(x) for x in v] for k, v in out.items()})
    assert not page.errors, page.errors

def _tailed_process():
    "The dropdown label of a process that declares a tail index `alpha`, or None (none does yet)."
    from difflab.explorers import explorer_processes
    from difflab.widgets import _process_options
    choices = explorer_processes()
    tailed = [label for label, spec in _process_options(choices) if choices[spec].uses_alpha]
    return tailed[0] if tailed else None

def test_forward_explorer_two_times(app, artifacts):
    page, img, sl, ro = app, 'img.difflab-forward-image', '.difflab-forward-t', '.difflab-forward-readout'
    lat = [_set_readout(page, sl, img, 0.2)]
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('0.20')")
    a = _shot(page, '.difflab-forward', artifacts / 'widgets_forward_t0.2.png')
    lat.append(_set_readout(page, sl, img, 0.8))
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('0.80')")
    b = _shot(page, '.difflab-forward', artifacts / 'widgets_forward_t0.8.png')
    assert a != b
    lat += [_key_latency(page, sl, img, k) for k in ('ArrowLeft', 'ArrowLeft', 'ArrowRight')]
    # digits, then the reverse chain of the shipped pretrained digits model: no training
    page.select_option('.difflab-forward-dataset select', 'digits')
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('digits')")
    page.click('.difflab-forward-direction button:has-text("reverse")')
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('ddpm_digits')", timeout=120_000)
    lat_reverse = [_key_latency(page, sl, img, k) for k in ('ArrowLeft', 'ArrowRight')]
    _shot(page, '.difflab-forward', artifacts / 'widgets_reverse_digits.png')
    page.click('.difflab-forward-direction button:has-text("forward")')
    page.wait_for_function(f"() => !document.querySelector('{ro}').innerText.includes('ddpm_digits')")
    # another process: its own sliders appear; without a pretrained model the reverse toggle is off
    page.select_option('.difflab-forward-process select', 'InfoDiffusion')
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('InfoDiffusion')")
    page.wait_for_selector('.difflab-forward-loc .noUi-handle')
    lat_param = [_key_latency(page, '.difflab-forward-loc', img, k) for k in ('ArrowLeft', 'ArrowRight')]
    page.select_option('.difflab-forward-dataset select', 'moons')
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('moons')")
    page.select_option('.difflab-forward-process select', 'LIM')  # no shipped LIM model of moons
    page.wait_for_function(f"() => document.querySelector('{ro}').innerText.includes('LIM')")
    assert page.locator('.difflab-forward-direction button').first.is_disabled()
    tailed = _tailed_process()
    lat_alpha = []
    if tailed is not None:  # the alpha slot is enabled for a process that declares alpha
        page.select_option('.difflab-forward-process select', tailed)
        page.wait_for_function("() => { const r = document.querySelector('.difflab-forward-alpha .widget-readout');"
                               " return r !== null && r.contentEditable === 'true'; }")
        lat_alpha = [_key_latency(page, '.difflab-forward-alpha', img, k) for k in ('ArrowLeft', 'ArrowRight')]
    else:
        print('no registered process declares alpha yet: the alpha slot stays off')
    _shot(page, '.difflab-forward', artifacts / 'widgets_forward_params.png')
    _record(artifacts, 'forward_t', lat); _record(artifacts, 'forward_reverse', lat_reverse)
    _record(artifacts, 'forward_param', lat_param); _record(artifacts, 'forward_alpha', lat_alpha)
    print(f'forward t latency ms: {[round(x) for x in lat]}; reverse (pretrained digits): {[round(x) for x in lat_reverse]};'
          f' InfoDiffusion loc: {[round(x) for x in lat_param]}; alpha ({tailed}): {[round(x) for x in lat_alpha]}')
    assert not page.errors, page.errors

def test_train_and_sample_in_browser(app, artifacts):
    page, img = app, 'img.difflab-train-image'
    page.locator('.difflab-train').scroll_into_view_if_needed()
    for sel, val in (('.difflab-train-steps', 200), ('.difflab-train-budget', 10)):
        ro = page.locator(f'{sel} .widget-readout')
        ro.click(); page.keyboard.press('Control+A'); page.keyboard.type(str(val)); page.keyboard.press('Enter')
    page.select_option('.difflab-train-sample_steps select', '100')
    page.wait_for_function("() => document.querySelector('.difflab-train-steps .widget-readout').innerText.trim() === '200'")
    t0 = time.perf_counter()
    page.click('.difflab-train-button')
    page.wait_for_function("() => document.querySelector('.difflab-train-status').innerText.includes('SWD')", timeout=180_000)
    took = time.perf_counter() - t0
    assert page.inner_text('.difflab-train-error').strip() == ''
    status = page.inner_text('.difflab-train-status')
    _shot(page, '.difflab-train', artifacts / 'widgets_train_done.png')
    lat = [_key_latency(page, '.difflab-train-scrub', img, 'Home')]              # to the prior draw
    _shot(page, '.difflab-train', artifacts / 'widgets_train_prior.png')
    lat += [_key_latency(page, '.difflab-train-scrub', img, k) for k in ('ArrowRight', 'ArrowRight', 'End')]
    _record(artifacts, 'train_scrub', lat); _record(artifacts, 'train_click_to_result_s', round(took, 1))
    print(f'train-and-sample from click to result: {took:.1f} s; scrub latency ms {[round(x) for x in lat]}\n{status}')
    t0 = time.perf_counter()                                                    # the shipped model: no training
    page.click('.difflab-train-pretrained')
    page.wait_for_function("() => document.querySelector('.difflab-train-status').innerText.includes('pretrained ddpm_moons')"
                           " && document.querySelector('.difflab-train-status').innerText.includes('SWD')", timeout=120_000)
    pretrained_s = time.perf_counter() - t0
    _shot(page, '.difflab-train', artifacts / 'widgets_train_pretrained.png')
    _record(artifacts, 'train_pretrained_click_to_result_s', round(pretrained_s, 1))
    print(f'sample pretrained from click to result: {pretrained_s:.1f} s')
    assert page.inner_text('.difflab-train-error').strip() == ''
    assert not page.errors, page.errors

def test_jupyterlab_smoke(browser, tmp_path, artifacts):
    "Open a copy of the app notebook in JupyterLab, run all cells, and see the explorers appear."
    pytest.importorskip('jupyterlab', reason='jupyterlab missing')
    work = tmp_path / 'work'; work.mkdir()
    shutil.copy(APP, work / 'app.ipynb')
    srv = _Server([str(BIN / 'jupyter'), 'lab', '--allow-root', '--no-browser', '--ip=127.0.0.1', '--ServerApp.token=',
                   '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True', f'--ServerApp.root_dir={work}',
                   '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
                   f'--LabApp.workspaces_dir={tmp_path / "ws"}', f'--LabApp.user_settings_dir={tmp_path / "settings"}'],
                  tmp_path, 'jupyterlab')
    ctx = None
    try:
        ctx, page = _new_page(browser, srv.url)
        page.goto(srv.url + 'lab/tree/app.ipynb?reset', timeout=START_S * 1000)
        page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=START_S * 1000)
        page.wait_for_function("() => document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')?.innerText.includes('Idle')",
                               timeout=START_S * 1000)             # the kernel is up
        page.locator('.jp-Notebook .jp-Cell').last.click()
        page.click('.lm-MenuBar-itemLabel:text-is("Run")')
        page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
        page.wait_for_selector('.jp-OutputArea img.difflab-alpha-image[src^="blob:"]', timeout=START_S * 1000)
        # lower explorers may sit outside JupyterLab's rendered window: attached is enough
        page.wait_for_selector('.jp-OutputArea img.difflab-train-image[src^="blob:"]', state='attached', timeout=START_S * 1000)
        assert page.locator('.jp-OutputArea .difflab-alpha-alpha').count() == 1
        page.locator('.jp-OutputArea .difflab-alpha').scroll_into_view_if_needed()
        lat = _key_latency(page, '.jp-OutputArea .difflab-alpha-alpha', '.jp-OutputArea img.difflab-alpha-image', 'ArrowLeft')
        page.wait_for_function("() => document.querySelector('.jp-OutputArea .difflab-alpha-readout').innerText.includes('1.45')")
        _record(artifacts, 'jupyterlab_alpha', lat)
        page.screenshot(path=str(artifacts / 'widgets_jupyterlab.png'))
        # as a student would: start a long training run, then go back to the α slider while it trains
        jp, status = '.jp-OutputArea ', '.jp-OutputArea .difflab-train-status'
        page.locator(jp + '.difflab-train').scroll_into_view_if_needed()
        _type_readout(page, jp + '.difflab-train-steps', 5000)
        _type_readout(page, jp + '.difflab-train-budget', 40)
        page.wait_for_function(f"() => document.querySelector('{jp}.difflab-train-budget .widget-readout').innerText.trim() === '40'")
        page.click(jp + '.difflab-train-button')
        page.wait_for_function(f"() => document.querySelector('{status}').innerText.includes('step ')", timeout=120_000)
        page.locator(jp + '.difflab-alpha').scroll_into_view_if_needed()
        lat_training, during = [], []
        for key in ('ArrowRight', 'ArrowLeft', 'ArrowRight'):
            lat_training.append(_key_latency(page, jp + '.difflab-alpha-alpha', jp + 'img.difflab-alpha-image', key, timeout=120))
            during.append(page.inner_text(status))
        _record(artifacts, 'jupyterlab_alpha_while_training', lat_training)
        print(f'JupyterLab: alpha latency {lat:.0f} ms idle, {[round(x) for x in lat_training]} ms while training ({during[-1]!r})')
        page.screenshot(path=str(artifacts / 'widgets_jupyterlab_training.png'))
        assert all('SWD' not in s and 'step ' in s for s in during), during
        page.locator(jp + '.difflab-train').scroll_into_view_if_needed()
        page.click(jp + '.difflab-train-button')                  # Stop
        page.wait_for_function(f"() => document.querySelector('{status}').innerText.includes('cancelled')", timeout=60_000)
        assert not page.errors, page.errors
    finally:
        if ctx is not None: ctx.close()
        srv.stop()

def _type_readout(page, sel, value):
    "Type `value` into the editable readout of the slider `sel` and press Enter."
    ro = page.locator(f'{sel} .widget-readout')
    ro.click(); page.keyboard.press('Control+A'); page.keyboard.type(str(value)); page.keyboard.press('Enter')

def test_alpha_answers_while_training(app, artifacts):
    "While train-and-sample trains, the α explorer still answers a key press at once (training runs in the background), and Stop cancels it."
    page, status = app, '.difflab-train-status'
    page.locator('.difflab-train').scroll_into_view_if_needed()
    _type_readout(page, '.difflab-train-steps', 5000)
    _type_readout(page, '.difflab-train-budget', 40)
    page.wait_for_function("() => document.querySelector('.difflab-train-budget .widget-readout').innerText.trim() === '40'")
    page.click('.difflab-train-button')
    page.wait_for_function(f"() => document.querySelector('{status}').innerText.includes('step ')", timeout=120_000)
    page.locator('.difflab-alpha').scroll_into_view_if_needed()
    lat, during = [], []
    for key in ('ArrowLeft', 'ArrowRight', 'ArrowLeft', 'ArrowRight'):
        lat.append(_key_latency(page, '.difflab-alpha-alpha', 'img.difflab-alpha-image', key, timeout=120))
        during.append(_text(page, status))
    _shot(page, '.difflab-alpha', artifacts / 'widgets_alpha_while_training.png')
    _record(artifacts, 'alpha_while_training', lat)
    print(f'alpha slider latency while training, ms: {[round(x) for x in lat]}; train status then: {during[-1]!r}')
    # every α answer came while training still ran: no scores yet, a step counter instead
    assert all('SWD' not in s and 'step ' in s for s in during), during
    page.locator('.difflab-train').scroll_into_view_if_needed()
    assert 'Stop' in page.inner_text('.difflab-train-button')
    page.click('.difflab-train-button')
    page.wait_for_function(f"() => document.querySelector('{status}').innerText.includes('cancelled')", timeout=60_000)
    _shot(page, '.difflab-train', artifacts / 'widgets_train_cancelled.png')
    assert page.inner_text('.difflab-train-error').strip() == ''
    assert 'Train' in page.inner_text('.difflab-train-button')
    assert not page.errors, page.errors

def test_train_explorer_snapshot_is_fresh():
    "The train-and-sample explorer stored in 20_widgets (what the docs show) is a fresh one, not a test's leftover run."
    import base64, io
    import numpy as np
    from PIL import Image
    pytest.importorskip('ipywidgets')
    from difflab.widgets import TrainExplorer
    nb = json.loads((ROOT / 'nbs' / '20_widgets.ipynb').read_text())
    shown = [o['data'] for c in nb['cells'] for o in c.get('outputs', [])
             if o.get('data', {}).get('text/plain', [''])[0].startswith('<TrainExplorer')]
    assert shown, 'no TrainExplorer output stored in nbs/20_widgets.ipynb'
    fresh = np.asarray(Image.open(io.BytesIO(bytes(TrainExplorer().image.value))).convert('RGB'), dtype=float)
    for data in shown:
        stored = np.asarray(Image.open(io.BytesIO(base64.b64decode(data['image/png']))).convert('RGB'), dtype=float)
        assert stored.shape == fresh.shape
        changed = (np.abs(stored - fresh).max(-1) > 40).mean()
        assert changed < 0.002, f'the stored TrainExplorer differs from a fresh one in {changed:.1%} of its pixels'

from conftest import USER_MODULE  # noqa: E402

def test_user_process_in_the_explorers(tmp_path, monkeypatch):
    "A process in a user's own module, imported from a folder outside difflab, is in every explorer with its slider."
    pytest.importorskip('ipywidgets')
    (tmp_path / 'explorers_user_module.py').write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    from difflab.core import _REGISTRY
    try:
        import explorers_user_module  # noqa: F401
        from difflab.explorers import explorer_processes
        from difflab.widgets import TrainExplorer, forward_explorer, schedule_explorer
        assert explorer_processes()['user_line'].label == 'MyProcess'
        se = schedule_explorer()
        assert 'user_line' in se.view.lines and 'user_line-tilt' in se.controls
        se.controls['user_line-tilt'].value = 2.0
        assert abs(se.info['processes']['user_line']['alpha_bar_half'] - 0.5 ** 4) < 1e-9
        fe = forward_explorer('user_line')
        assert [spec for _, spec in fe.controls['process'].options].count('user_line') == 1
        assert list(fe.param_controls) == ['tilt'] and fe.error is None
        before = fe.image.value
        fe.param_controls['tilt'].value = 2.0
        assert fe.view.process.tilt == 2.0 and fe.image.value != before
        te = TrainExplorer('user_line')
        assert list(te.param_controls) == ['tilt']
    finally:
        _REGISTRY.pop('user_line', None)
        sys.modules.pop('explorers_user_module', None)

def test_a_process_that_fails_to_build_shows_its_error(tmp_path, monkeypatch):
    "A registered process whose constructor raises stays in the list; choosing it shows the error in the widget."
    pytest.importorskip('ipywidgets')
    (tmp_path / 'explorers_broken_module.py').write_text(USER_MODULE.replace("'user_line'", "'user_broken'").replace(
        "self.tilt = self.params['tilt'].check('tilt', tilt)", "raise RuntimeError('this process is broken')"))
    monkeypatch.syspath_prepend(str(tmp_path))
    from difflab.core import _REGISTRY
    try:
        import explorers_broken_module  # noqa: F401
        from difflab.widgets import forward_explorer, schedule_explorer
        fe = forward_explorer()
        assert 'user_broken' in [spec for _, spec in fe.controls['process'].options]
        fe.controls['process'].value = 'user_broken'
        assert 'this process is broken' in fe.readout.value and isinstance(fe.error, RuntimeError)
        se = schedule_explorer()
        assert 'this process is broken' in se.info['skipped']['user_broken']
    finally:
        _REGISTRY.pop('user_broken', None)
        sys.modules.pop('explorers_broken_module', None)
