"""Numerical extremes, short versions (the long runs are `#| slow` cells in nbs/90_reliability.ipynb). The extremes are
declared by parameter name in `reliability.EXTREMES` — alpha = 1.1 on heavy-tailed data, T = 1 and T = 10,000,
sigma_min = 1e-4 in the box, t_min = 1e-3 in float32 — and run for every registered process and variant that takes
that parameter (`reliability.extreme_cases()`); every process also runs at the ends of each of its sliders. No NaN or
inf anywhere."""
import math
import pytest
import torch
from torch import nn

from difflab.core import bcast, default_spec, make_process, process_specs
from difflab.data import toy2d
from difflab.models import TimeMLP
from difflab.train import fit
from difflab.reflected import heat_kernel_score, heat_kernel_logp
from difflab.stable import sample_stable, sample_stable_factor
from difflab.reliability import (EXTREMES, EXTREME_TIMES, SMALL, extreme_cases, extreme_data, process_methods,
                                 small_kwargs)

torch.set_num_threads(1)
def finite(x): return bool(torch.isfinite(torch.as_tensor(x)).all())

class Lin(nn.Module):
    def __init__(self, a=-0.3, b=0.1, dtype=torch.float32):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a, dtype=dtype)), nn.Parameter(torch.tensor(b, dtype=dtype))
    def forward(self, x, c, y=None): return self.a * x + self.b * bcast(c, x)

def in_domain(p, x): return p.domain != 'box' or bool(((x >= 0) & (x <= 1)).all())

CASES = {label: (spec, key, kwargs) for label, spec, key, kwargs in extreme_cases()}
TRAIN = [label for label, (spec, key, kwargs) in CASES.items()
         if EXTREMES[key].train and spec == default_spec(type(make_process(spec, **kwargs)).name)]
FULL = [label for label, (spec, key, kwargs) in CASES.items() if EXTREMES[key].full_steps and kwargs[key] > 100]

def test_every_extreme_has_a_process():
    "Each declared extreme reaches at least one registered process (a renamed parameter would silently drop it)."
    assert {key for _, key, _ in CASES.values()} == set(EXTREMES)

# ------------------------------------------------------------------------------------------ every extreme, untrained
@pytest.mark.parametrize('label', CASES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_extreme_values(label, dtype):
    "The forward process at t = 0, 1e-4, 1e-3, 0.5, 1 (walls included in the box), the loss, every sampler, the nll."
    spec, key, kwargs = CASES[label]
    p = make_process(spec, **kwargs)
    x = extreme_data(p, key, 256, seed=1).to(dtype)
    if p.domain == 'box':
        x[:4] = torch.tensor([[0., 0.], [1., 1.], [0., 1.], [1e-7, 1 - 1e-7]], dtype=dtype)
    for t in EXTREME_TIMES:
        times = torch.full((len(x),), t, dtype=dtype)
        xt, target = p.q_sample(x, times)
        assert finite(xt) and finite(target) and xt.dtype == dtype and in_domain(p, xt), t
        assert finite(p.cond(times)), t
    m = p.wrap_model(Lin(dtype=dtype))
    assert finite(p.loss(m, x))
    top = min(SMALL, kwargs[key]) if EXTREMES[key].full_steps else SMALL  # at most T (small_kwargs: T = SMALL)
    for s in p.samplers:
        for steps in sorted({1, top}):
            out = p.sample(m, (64, 2), steps=steps, sampler=s)
            assert finite(out) and in_domain(p, out) and out.dtype == dtype, (s, steps)
    if 'nll' in process_methods(type(p)) and dtype == torch.float32:
        import inspect
        names = inspect.signature(p.nll).parameters
        fast = {k: v for k, v in (('steps', 10), ('repeats', 2)) if k in names}
        assert finite(p.nll(m, x[:32], **fast))

@pytest.mark.parametrize('label', FULL)
def test_full_length_samplers(label):
    "Every sampler at the full number of steps, once (the slow notebook cells also train there)."
    spec, key, kwargs = CASES[label]
    p = make_process(spec, **kwargs)
    for s in p.samplers:
        assert finite(p.sample(Lin(), (32, 2), steps=kwargs[key], sampler=s)), s

# ------------------------------------------------------------------------------------------ training at an extreme
@pytest.mark.parametrize('label', TRAIN)
def test_training_at_the_extreme(label):
    "150 steps at the extreme (fit raises on the first non-finite loss or gradient norm), then every sampler finite."
    spec, key, kwargs = CASES[label]
    p = make_process(spec, **kwargs)
    x = extreme_data(p, key, 2000, seed=1)
    if key == 'alpha':                                   # the data really are heavy-tailed
        light = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
        assert float(light.abs().max()) < 6 and float(x.abs().max()) > 20
    net = p.wrap_model(TimeMLP(dim=p.state_shape((1, 2))[1], hidden=32, blocks=1))
    ema, hist = fit(p, net, x, steps=150, batch_size=128, lr=2e-3, warmup=10, progress=False, log_every=25)
    assert all(math.isfinite(h['loss']) and math.isfinite(h.get('grad_norm', 0.)) for h in hist)
    for s in p.samplers:
        out = p.sample(ema, (500, 2), steps=SMALL, sampler=s)
        assert finite(out) and in_domain(p, out), s

# ------------------------------------------------------------------------------------------ the ends of every slider
SLIDERS = [(f'{spec}[{arg}={v:g}]', spec, {**small_kwargs(cls), arg: v})
           for spec, (cls, fixed) in process_specs().items()
           for arg, param in cls.params.items() if arg not in fixed and param.slider
           for v in param.slider]

@pytest.mark.parametrize('label,spec,kwargs', SLIDERS, ids=[s[0] for s in SLIDERS])
def test_slider_ends(label, spec, kwargs):
    "What the explorers offer stays finite: q_sample at t = 0, 1/2, 1, the loss and every sampler at each slider end."
    p = make_process(spec, **kwargs)
    x = toy2d('box' if p.domain == 'box' else 'moons', 128)
    for t in (0.0, 0.5, 1.0):
        xt, target = p.q_sample(x, torch.full((128,), t))
        assert finite(xt) and finite(target) and in_domain(p, xt), t
    m = p.wrap_model(Lin())
    assert finite(p.loss(m, x))
    for s in p.samplers:
        out = p.sample(m, (64, 2), steps=5, sampler=s)
        assert finite(out) and in_domain(p, out), s

# ------------------------------------------------------------------------------------------ alpha-stable noise itself
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

# ------------------------------------------------------------------------------------------ the heat kernel at 1e-4
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_heat_kernel_sigma_1e4(dtype):
    "The heat kernel at sigma = 1e-4 in the box: finite log-density and score everywhere, zero normal score on the walls."
    x0 = torch.tensor([[0., 0.], [1., 1.], [1e-7, 1 - 1e-7], [0.5, 0.25], [1e-4, 0.9999]], dtype=dtype)
    x = torch.tensor([[0., 1.], [1., 0.], [0., 1.], [0.5 + 3e-4, 0.25], [0., 1.]], dtype=dtype)
    for s in (1e-4, 1e-3):
        sc, lp = heat_kernel_score(x, x0, s), heat_kernel_logp(x, x0, s)
        assert finite(sc) and finite(lp), s
        on_wall = (x == 0) | (x == 1)
        assert float(sc[on_wall].abs().max()) * s < 1e-3                    # sigma * score vanishes on the walls
