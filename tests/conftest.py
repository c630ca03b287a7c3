import os, sys, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / 'test-artifacts'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']

@pytest.fixture(scope='session')
def root(): return ROOT

@pytest.fixture(scope='session')
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

@pytest.fixture(scope='session')
def venv_python(): return str(Path(sys.executable))

@pytest.fixture(scope='session')
def browser():
    """Debian's headless chromium driven by Playwright, one per test session and shared by every browser test.

    Playwright's sync API runs its own event loop for as long as it is started: a second `sync_playwright()` in the
    same process (one per test file) fails with "Playwright Sync API inside the asyncio loop". So there is one.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f'{CHROMIUM} not found: browser tests skipped (as root: `make browser` or apt-get install chromium)')
    sync_api = pytest.importorskip('playwright.sync_api', reason='playwright (pip) missing: pip install playwright')
    playwright = sync_api.sync_playwright().start()
    try:
        b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()
    finally:
        playwright.stop()

def pytest_collection_modifyitems(session, config, items):
    """Tests that use `browser` are marked `browser` and run last.

    Playwright's sync API keeps an asyncio loop running in its process from the first browser test
    to the end of the session, so `make test` runs them in a pytest call of their own
    (`-m browser`), after every other test (`-m "not browser"`).
    """
    for item in items:
        if 'browser' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: 'browser' in getattr(item, 'fixturenames', ()))

def pytest_configure(config):
    config.addinivalue_line('markers', 'browser: drives headless chromium (run by a pytest call of its own)')


# A process in a user's own module, outside difflab: the registry, the command line and the
# explorers must treat it like a built-in one (tests/test_registry.py, tests/test_widgets_browser.py)
USER_MODULE = textwrap.dedent('''
    """A user's own process: a straight-line Gaussian path with an eps-predicting network."""
    import torch
    from difflab.core import Param
    from difflab.gaussian import GaussianPath


    class MyProcess(GaussianPath):
        name = 'user_line'
        prediction = 'eps'
        t_max = 0.999
        params = {'tilt': Param(1.0, lo=0.5, hi=2.0, doc='how fast the signal fades')}

        def __init__(self, tilt=1.0):
            self.tilt = self.params['tilt'].check('tilt', tilt)

        def marginal(self, t):
            t = torch.as_tensor(t, dtype=torch.float64)
            return (1 - t) ** self.tilt, t
''')
