"""Numerical extremes, short versions (the long runs are `#| slow` cells in nbs/90_reliability.ipynb):
alpha = 1.1 on heavy-tailed data (DLPM, LIM), T = 1 and T = 10,000 (DDPM, DLPM), reflected sigma_min = 1e-4,
MDM at t = 1e-3 in float32 — no NaN or inf anywhere."""
import math
import pytest
import torch
from torch import nn

from difflab.core import bcast
from difflab.data import toy2d
from difflab.models import TimeMLP
from difflab.train import fit
from difflab.ddpm import DDPM
from difflab.dlpm import DLPM
from difflab.lim import LIM
from difflab.reflected import Reflected, heat_kernel_score, heat_kernel_logp
from difflab.stable import sample_stable, sample_stable_factor
try: from difflab.mdm import MDM, safe_cholesky
except ImportError: MDM = None

torch.set_num_threads(1)
def finite(x): return bool(torch.isfinite(torch.as_tensor(x)).all())

class Lin(nn.Module):
    def __init__(self, a=-0.3, b=0.1, dtype=torch.float32):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a, dtype=dtype)), nn.Parameter(torch.tensor(b, dtype=dtype))
    def forward(self, x, c, y=None): return self.a * x + self.b * bcast(c, x)

# ------------------------------------------------------------------------------------------ alpha = 1.1, heavy tails
HEAVY = {'sas_grid_1.1': lambda: toy2d('sas_grid', 2000, alpha=1.1, seed=1),
         'student_t_1.1': lambda: toy2d('student_t', 2000, df=1.1, seed=2)}

@pytest.mark.parametrize('make,data', [
    (lambda: DLPM(alpha=1.1, T=50), 'sas_grid_1.1'), (lambda: DLPM(alpha=1.1, T=50, loss_type='mse'), 'student_t_1.1'),
    (lambda: LIM(alpha=1.1), 'sas_grid_1.1'), (lambda: LIM(alpha=1.1, loss_type='mse'), 'student_t_1.1')],
    ids=['dlpm_l2_sas', 'dlpm_mse_student', 'lim_huber_sas', 'lim_mse_student'])
def test_alpha_1_1_heavy_tails_train_and_sample(make, data):
    "150 steps at alpha = 1.1 on data with infinite variance: every loss finite (fit raises on the first non-finite one), samples finite."
    x = HEAVY[data]()
    light = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))   # a light tail of the same size
    assert float(light.abs().max()) < 6 and float(x.abs().max()) > 20            # the data really are heavy-tailed
    p = make()
    ema, hist = fit(p, TimeMLP(hidden=32, blocks=1), x, steps=150, batch_size=128, lr=2e-3, warmup=10, progress=False, log_every=25)
    assert all(math.isfinite(h['loss']) and math.isfinite(h.get('grad_norm', 0.)) for h in hist)
    for s in p.samplers: assert finite(p.sample(ema, (500, 2), steps=20, sampler=s)), s

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('alpha', [0.5, 1.0, 1.1, 1.5, 1.999, 2.0])
def test_stable_noise_is_finite(alpha, dtype):
    g = torch.Generator().manual_seed(0)
    for iso, shape in ((False, (200_000,)), (True, (50_000, 4))):
        assert finite(sample_stable(alpha, shape, g, isotropic=iso, dtype=dtype)), (alpha, iso)
    A = sample_stable_factor(alpha, 200_000, g, dtype=dtype)
    assert finite(A) and bool((A > 0).all())

def test_isotropic_stable_noise_float32_small_alpha():
    x = sample_stable(0.2, (200_000, 2), torch.Generator().manual_seed(0), isotropic=True, dtype=torch.float32)
    x64 = sample_stable(0.2, (200_000, 2), torch.Generator().manual_seed(0), isotropic=True, dtype=torch.float64)
    assert float(x64.abs().max()) < 3e38                               # every value is representable in float32 ...
    assert finite(x)                                                   # ... so none should come out as inf

# ------------------------------------------------------------------------------------------ T = 1 and T = 10,000
PROCS_T = {'ddpm_linear': lambda T: DDPM(T=T), 'ddpm_cosine': lambda T: DDPM(T=T, schedule='cosine'),
           'dlpm_1.8': lambda T: DLPM(alpha=1.8, T=T), 'dlpm_1.1': lambda T: DLPM(alpha=1.1, T=T)}

@pytest.mark.parametrize('name', PROCS_T)
@pytest.mark.parametrize('T', [1, 10_000])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_T_extremes(name, T, dtype):
    p = PROCS_T[name](T)
    if isinstance(p, DDPM):
        ab = p.alpha_bar
        assert finite(ab) and bool(((ab > 0) & (ab < 1)).all()) and finite(p.logsnr)
        assert bool((ab[1:] <= ab[:-1]).all())                                     # monotone
        assert finite(p.logsnr_of_t(torch.tensor([0., 1 / T, .5, 1.]))) and finite(p.cond_of_logsnr(torch.tensor([-30., 0., 30.])))
    else:
        assert finite(p.gamma_bar) and finite(p.sigma_bar) and float(p.gamma_bar.min()) > 0 and finite(p.gamma) and finite(p.sigma)
    x = toy2d('moons', 256).to(dtype)
    for t in (0., 1 / T, 0.5, 1.):
        xt, target = p.q_sample(x, torch.full((256,), t, dtype=dtype))
        assert finite(xt) and finite(target), t
    m = Lin(dtype=dtype)
    assert finite(p.loss(m, x))
    for s in p.samplers:
        for steps in sorted({1, min(T, 100)}):
            assert finite(p.sample(m, (64, 2), steps=steps, sampler=s)), (s, steps)
    if isinstance(p, DDPM) and T == 1: assert finite(p.nll(m, x[:32]))

def test_T_10000_full_length_ddim():
    "All 10,000 steps once (the slow notebook runs every sampler and the ELBO at full length)."
    p = DDPM(T=10_000, schedule='cosine')
    assert finite(p.sample(Lin(), (32, 2), steps=10_000, sampler='ddim'))

# ------------------------------------------------------------------------------------------ reflected, sigma_min = 1e-4
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_reflected_sigma_min_1e4_kernel(dtype):
    "The heat kernel at sigma = 1e-4 in the box: finite log-density and score everywhere, zero normal score on the walls."
    x0 = torch.tensor([[0., 0.], [1., 1.], [1e-7, 1 - 1e-7], [0.5, 0.25], [1e-4, 0.9999]], dtype=dtype)
    x = torch.tensor([[0., 1.], [1., 0.], [0., 1.], [0.5 + 3e-4, 0.25], [0., 1.]], dtype=dtype)
    for s in (1e-4, 1e-3):
        sc, lp = heat_kernel_score(x, x0, s), heat_kernel_logp(x, x0, s)
        assert finite(sc) and finite(lp), s
        on_wall = (x == 0) | (x == 1)
        assert float(sc[on_wall].abs().max()) * s < 1e-3                    # sigma * score vanishes on the walls

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_reflected_sigma_min_1e4_process(dtype):
    p = Reflected(sigma_min=1e-4)
    x = toy2d('box', 512).to(dtype)
    x[:4] = torch.tensor([[0., 0.], [1., 1.], [0., 1.], [1e-7, 1 - 1e-7]], dtype=dtype)
    for t in (0., 1e-6, 0.5, 1.):
        xt, target = p.q_sample(x, torch.full((512,), t, dtype=dtype))
        assert finite(xt) and finite(target) and bool(((xt >= 0) & (xt <= 1)).all()), t
    m = Lin(dtype=dtype)
    assert finite(p.loss(m, x))
    for s in p.samplers:
        out = p.sample(m, (128, 2), steps=20, sampler=s)
        assert finite(out) and bool(((out >= 0) & (out <= 1)).all()), s
    assert finite(p.nll(m, x[:32], steps=10))

def test_reflected_sigma_min_1e4_training():
    p = Reflected(sigma_min=1e-4)
    ema, hist = fit(p, TimeMLP(hidden=32, blocks=1), toy2d('box', 2000), steps=150, batch_size=128, warmup=10, progress=False, log_every=25)
    assert all(math.isfinite(h['loss']) for h in hist)
    out = p.sample(ema, (500, 2), steps=50)
    assert finite(out) and bool(((out >= 0) & (out <= 1)).all())

# ------------------------------------------------------------------------------------------ MDM at t = 1e-3, float32
needs_mdm = pytest.mark.skipif(MDM is None, reason='difflab.mdm is not there yet')
PRESETS = ['vp', 'cld', 'alda', 'malda']

@needs_mdm
@pytest.mark.parametrize('preset', PRESETS)
@pytest.mark.parametrize('hybrid', [True, False])
def test_mdm_t_1e3_float32(preset, hybrid):
    p = getattr(MDM, preset)(t_min=1e-3, hybrid=hybrid)
    E, S = p.transition(torch.tensor([1e-3, 1e-4, 0.0], dtype=torch.float64))
    L = safe_cholesky(S)
    assert finite(E) and finite(S) and finite(L)
    assert torch.allclose(L @ L.mT, S, atol=1e-9)                             # the factor reproduces Sigma (jitter only where needed)
    x = toy2d('moons', 512)
    for t in (1e-3, 1e-4, 0.):
        u, eps = p.q_sample(x, torch.full((512,), t))
        assert u.dtype == torch.float32 and finite(u) and finite(eps), t
    m = Lin()
    assert finite(p.loss(m, x)) and finite(p.nll(m, x[:64], repeats=2))
    for s in p.samplers: assert finite(p.sample(m, (64, 2), steps=20, sampler=s)), s

@needs_mdm
def test_mdm_cld_float32_training():
    p = MDM.cld(t_min=1e-3)
    ema, hist = fit(p, TimeMLP(dim=4, hidden=32, blocks=1), toy2d('moons', 2000), steps=150, batch_size=128, warmup=10,
                    progress=False, log_every=25)
    assert all(math.isfinite(h['loss']) for h in hist)
    assert finite(p.sample(ema, (256, 2), steps=50))
