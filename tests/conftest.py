import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / 'test-artifacts'

@pytest.fixture(scope='session')
def root(): return ROOT

@pytest.fixture(scope='session')
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

@pytest.fixture(scope='session')
def venv_python(): return str(Path(sys.executable))
