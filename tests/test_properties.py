"""Property tests for every registered diffusion process: random shapes (2D and images), float32 / float64, batches
from 1 — q_sample, loss (and its gradient) and sample stay finite with the right shape and dtype; t = 0 and t = 1
exactly are handled. The configurations come from the registry (`reliability.process_cases()`: every process and
variant, each other value of each choice or flag `Param`, small integer sizes), so a new process — one in the user's
own module included (tested at the end) — is covered without editing this file. See nbs/90_reliability.ipynb."""
import sys
import textwrap

import pytest
import torch
from torch import nn
from hypothesis import given, settings, strategies as st, HealthCheck

from difflab.core import bcast, make_process, _REGISTRY
from difflab.reliability import process_cases

torch.set_num_threads(1)
FAST = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CASES = process_cases()
NAMES = list(CASES)

def make(name):
    spec, kwargs = process_cases()[name] if name not in CASES else CASES[name]
    return make_process(spec, **kwargs)

class Lin(nn.Module):
    "A tiny network for any shape and dtype: `a * x + b * c` (zero when a = b = 0)."
    def __init__(self, a, b, dtype):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a, dtype=dtype)), nn.Parameter(torch.tensor(b, dtype=dtype))
    def forward(self, x, c, y=None): return self.a * x + self.b * bcast(c, x)

def network(p, a, b, dtype):
    "`Lin` as the process trains it (a process that learns parameters of its own wraps it)."
    return p.wrap_model(Lin(a, b, dtype)).to(dtype)

shapes = st.one_of(st.tuples(st.integers(1, 5), st.integers(1, 4)),
                   st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)))
dtypes = st.sampled_from([torch.float32, torch.float64])
coefs = st.sampled_from([0.0, -0.5, 0.3, 1.0])
ends = st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1))

def data_for(p, shape, dtype, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    if p.domain == 'box':                       # the box, walls included
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        x.view(-1)[::3] = 0.0
        x.view(-1)[1::4] = 1.0
        return x.to(dtype)
    return (scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)

def finite(x): return bool(torch.isfinite(x).all())

def in_domain(p, x): return p.domain != 'box' or bool(((x >= 0) & (x <= 1)).all())

@pytest.mark.parametrize('name', NAMES)
@FAST
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 3.0, 1e3]), data=st.data())
def test_q_sample(name, shape, dtype, seed, scale, data):
    p = make(name)
    x0 = data_for(p, shape, dtype, seed, scale)
    t = torch.tensor(data.draw(st.lists(ends, min_size=shape[0], max_size=shape[0])), dtype=dtype)
    torch.manual_seed(seed)
    xt, target = p.q_sample(x0, t)
    assert tuple(xt.shape) == tuple(p.state_shape(shape)) and target.shape == xt.shape
    assert xt.dtype == dtype and target.dtype == dtype
    assert finite(xt) and finite(target), (t, xt, target)
    assert in_domain(p, xt)

@pytest.mark.parametrize('name', NAMES)
@FAST
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 3.0, 1e3]), a=coefs, b=coefs)
def test_loss_and_gradient(name, shape, dtype, seed, scale, a, b):
    p = make(name)
    x0, model = data_for(p, shape, dtype, seed, scale), network(p, a, b, dtype)
    torch.manual_seed(seed)
    loss = p.loss(model, x0)
    assert loss.ndim == 0 and loss.dtype == dtype and finite(loss), loss
    loss.backward()
    assert all(finite(q.grad) for q in model.parameters() if q.grad is not None)

@pytest.mark.parametrize('name', NAMES)
@FAST
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), a=coefs, b=coefs, steps=st.integers(1, 3),
       guidance=st.sampled_from([0.0, 0.0, 2.0]), data=st.data())
def test_sample(name, shape, dtype, seed, a, b, steps, guidance, data):
    "Every sampler, with and without labels + classifier-free guidance, and the denoising path."
    p = make(name)
    sampler = data.draw(st.sampled_from(p.samplers))
    y = torch.zeros(shape[0], dtype=torch.long) if guidance else None
    torch.manual_seed(seed)
    x, path = p.sample(network(p, a, b, dtype), shape, steps=steps, sampler=sampler, y=y, guidance=guidance,
                       return_path=True)
    assert tuple(x.shape) == tuple(shape) and x.dtype == dtype and finite(x), (sampler, x)
    assert path.ndim == len(shape) + 1 and tuple(path.shape[1:]) == tuple(shape) and finite(path)
    assert in_domain(p, x)

@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('shape', [(1, 2), (2, 1, 4, 4)])
def test_time_ends_exactly(name, dtype, shape):
    "t = 0 and t = 1 exactly (scalar and per example): finite marginals, targets and per-time losses."
    p = make(name)
    x0 = data_for(p, shape, dtype, 0)
    for t in (0.0, 1.0, torch.zeros(shape[0], dtype=dtype), torch.ones(shape[0], dtype=dtype)):
        t = torch.as_tensor(t, dtype=dtype)
        xt, target = p.q_sample(x0, t if t.ndim else t.expand(shape[0]))
        assert finite(xt) and finite(target) and xt.dtype == dtype, (name, t)
        c = p.cond(t if t.ndim else t.expand(shape[0]))
        assert finite(torch.as_tensor(c)), (name, t, c)
    w = p.loss_weight(torch.tensor([0.0, 1.0], dtype=dtype))
    assert finite(torch.as_tensor(w))

def test_cases_cover_every_process_and_variant():
    from difflab.core import process_specs, processes
    assert set(process_specs()) <= set(CASES)
    assert {type(make(n)).name for n in CASES} == set(processes())

# ---------------------------------------------------------------- a process in the user's own module
USER_MODULE = textwrap.dedent('''
    """A user's own process: a straight-line Gaussian path with a tilt and a switch."""
    import torch
    from difflab.core import Param
    from difflab.gaussian import GaussianPath


    class LineProcess(GaussianPath):
        name = 'user_line'
        t_max = 0.999
        params = {
            'tilt': Param(1.0, lo=0.5, hi=2.0, doc='how fast the signal fades'),
            'squared': Param(False, doc='sigma grows like t^2'),
        }

        def __init__(self, tilt=1.0, squared=False):
            self.tilt = self.params['tilt'].check('tilt', tilt)
            self.squared = self.params['squared'].check('squared', squared)

        def marginal(self, t):
            t = torch.as_tensor(t, dtype=torch.float64)
            return (1 - t) ** self.tilt, t * t if self.squared else t
''')

@pytest.fixture()
def user_process(tmp_path, monkeypatch):
    (tmp_path / 'userprocess_for_properties.py').write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop('userprocess_for_properties', None)
    __import__('userprocess_for_properties')
    yield 'user_line'
    sys.modules.pop('userprocess_for_properties', None)
    _REGISTRY.pop('user_line', None)

def test_user_process_gets_the_property_tests(user_process):
    "The same hypothesis tests, on the process and its flipped switch, with nothing in difflab or here edited."
    names = [n for n in process_cases() if n.split('[')[0] == user_process]
    assert names == ['user_line', 'user_line[squared=True]']
    for name in names:
        test_q_sample(name)
        test_loss_and_gradient(name)
        test_sample(name)
        for dtype in (torch.float32, torch.float64):
            test_time_ends_exactly(name, dtype, (2, 1, 4, 4))
