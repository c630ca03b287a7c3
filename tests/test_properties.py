"""Property tests for every diffusion process: random shapes (2D and images), float32 / float64, batches from 1 —
q_sample, loss (and its gradient) and sample stay finite with the right shape and dtype; t = 0 and t = 1 exactly are handled.
See nbs/90_reliability.ipynb."""
import math
import pytest
import torch
from torch import nn
from hypothesis import given, settings, strategies as st, HealthCheck

from difflab.core import bcast
from difflab.ddpm import DDPM
from difflab.dlpm import DLPM
from difflab.lim import LIM
from difflab.reflected import Reflected
from difflab.infodiff import InfoDiffusion

try: from difflab.mdm import MDM
except ImportError: MDM = None          # 14_mdm may still be landing: its cases are skipped, not failed

torch.set_num_threads(1)
FAST = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PROCESSES = {
    'ddpm': lambda: DDPM(T=20),
    'ddpm_cosine_large': lambda: DDPM(T=20, schedule='cosine', variance='large', eta=0.5, clip_x0=(-1., 1.)),
    'dlpm': lambda: DLPM(alpha=1.5, T=20),
    'dlpm_percoord_mom': lambda: DLPM(alpha=1.2, T=20, isotropic=False, loss_type='mom', eta=0.5),
    'lim': lambda: LIM(alpha=1.5),
    'lim_l2': lambda: LIM(alpha=1.1, isotropic=False, loss_type='l2'),
    'reflected': lambda: Reflected(),
    'mdm_vp': lambda: MDM.vp(),
    'mdm_cld': lambda: MDM.cld(),
    'mdm_malda_full': lambda: MDM.malda(hybrid=False),
    'infodiff': lambda: InfoDiffusion(),
}
NAMES = list(PROCESSES)

def make(name):
    if name.startswith('mdm') and MDM is None: pytest.skip('difflab.mdm is not there yet')
    return PROCESSES[name]()

class Lin(nn.Module):
    "A tiny network for any shape and dtype: `a * x + b * c` (zero when a = b = 0)."
    def __init__(self, a, b, dtype):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a, dtype=dtype)), nn.Parameter(torch.tensor(b, dtype=dtype))
    def forward(self, x, c, y=None): return self.a * x + self.b * bcast(c, x)

shapes = st.one_of(st.tuples(st.integers(1, 5), st.integers(1, 4)),
                   st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)))
dtypes = st.sampled_from([torch.float32, torch.float64])
coefs = st.sampled_from([0.0, -0.5, 0.3, 1.0])
ends = st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1))

def data_for(name, shape, dtype, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    if name == 'reflected':                     # the box, walls included
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        x.view(-1)[::3] = 0.0; x.view(-1)[1::4] = 1.0
        return x.to(dtype)
    return (scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)

def finite(x): return bool(torch.isfinite(x).all())

def state_shape(p, shape): return tuple(p.state_shape(shape))

@pytest.mark.parametrize('name', NAMES)
@FAST
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 3.0, 1e3]), data=st.data())
def test_q_sample(name, shape, dtype, seed, scale, data):
    p, x0 = make(name), data_for(name, shape, dtype, seed, scale)
    t = torch.tensor(data.draw(st.lists(ends, min_size=shape[0], max_size=shape[0])), dtype=dtype)
    torch.manual_seed(seed)
    xt, target = p.q_sample(x0, t)
    assert tuple(xt.shape) == state_shape(p, shape) and target.shape == xt.shape
    assert xt.dtype == dtype and target.dtype == dtype
    assert finite(xt) and finite(target), (t, xt, target)
    if name == 'reflected': assert bool(((xt >= 0) & (xt <= 1)).all())

@pytest.mark.parametrize('name', NAMES)
@FAST
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 3.0, 1e3]), a=coefs, b=coefs)
def test_loss_and_gradient(name, shape, dtype, seed, scale, a, b):
    p, x0, model = make(name), data_for(name, shape, dtype, seed, scale), Lin(a, b, dtype)
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
    x, path = p.sample(Lin(a, b, dtype), shape, steps=steps, sampler=sampler, y=y, guidance=guidance, return_path=True)
    assert tuple(x.shape) == tuple(shape) and x.dtype == dtype and finite(x), (sampler, x)
    assert path.ndim == len(shape) + 1 and tuple(path.shape[1:]) == tuple(shape) and finite(path)
    if name == 'reflected': assert bool(((x >= 0) & (x <= 1)).all())

@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('shape', [(1, 2), (2, 1, 4, 4)])
def test_time_ends_exactly(name, dtype, shape):
    "t = 0 and t = 1 exactly (scalar and per example): finite marginals, targets and per-time losses."
    p, x0 = make(name), data_for(name, shape, dtype, 0)
    for t in (0.0, 1.0, torch.zeros(shape[0], dtype=dtype), torch.ones(shape[0], dtype=dtype)):
        t = torch.as_tensor(t, dtype=dtype)
        xt, target = p.q_sample(x0, t if t.ndim else t.expand(shape[0]))
        assert finite(xt) and finite(target) and xt.dtype == dtype, (name, t)
        c = p.cond(t if t.ndim else t.expand(shape[0]))
        assert finite(torch.as_tensor(c)), (name, t, c)
    w = p.loss_weight(torch.tensor([0.0, 1.0], dtype=dtype))
    assert finite(torch.as_tensor(w))
