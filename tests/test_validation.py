"""Bad input everywhere public: each bad value of every registered parameter raises ValueError naming the parameter,
each good value passes, and the registry (difflab.reliability, from nbs/90_reliability.ipynb) lists every parameter of
the entry points it covers, so the docs table cannot drift from the code. Known gaps are strict xfails: fixing one
makes its test XPASS and fail, so the gap must then be removed from `reliability.GAPS`."""
import re
import pytest
import torch
from difflab import reliability as R

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")      # numpy warns on some known-gap probes (inf)
REG = R.param_registry()

@pytest.fixture(scope='module')
def entries(): return R.entry_points()

def _params(kind):
    out = []
    for key, where, name, v in R.cases(kind, REG):
        gap = R.gap_of(key) if kind == 'bad' else None
        marks = [pytest.mark.xfail(strict=True, reason=f'BUG: {gap.reason} (owner: {gap.owner})')] if gap else []
        out.append(pytest.param(where, name, v, id=key, marks=marks))
    return out

@pytest.mark.parametrize('where,name,value', _params('bad'))
def test_bad_value_refused(entries, where, name, value):
    problem = R.check(where, name, value, 'bad', entries, REG)
    assert problem is None, f'{where}({name}={R.short(value)}): {problem}'

@pytest.mark.parametrize('where,name,value', _params('good'))
def test_good_value_accepted(entries, where, name, value):
    problem = R.check(where, name, value, 'good', entries, REG)
    assert problem is None, f'{where}({name}={R.short(value)}): {problem}'

def test_registry_lists_every_parameter(entries):
    "Each covered entry point's signature and its registry rows name the same parameters (a new argument needs a row)."
    assert set(entries) == set(REG)
    for where, (target, _) in entries.items():
        assert sorted(R.signature_params(target)) == sorted(REG[where]), where

def test_every_gap_is_live():
    "Each known gap matches at least one registered probe (a stale gap would hide nothing and mislead)."
    keys = [k for k, *_ in R.cases('bad', REG)]
    for g in R.GAPS: assert any(g.matches(k) for k in keys), g

def test_table_has_a_row_per_parameter():
    rows = R.param_table(REG).splitlines()[2:]
    assert len(rows) == sum(map(len, REG.values()))

# ---------------------------------------------------------------- the "Bad input" sections of the process issues
from difflab.ddpm import DDPM
from difflab.dlpm import DLPM
from difflab.lim import LIM
from difflab.reflected import Reflected
from difflab.infodiff import InfoDiffusion
from difflab.models import TimeMLP, UNet
from difflab.train import fit
from difflab import data as D
try: from difflab.mdm import MDM
except ImportError: MDM = None

PROCS = {'ddpm': lambda: DDPM(T=10), 'dlpm': lambda: DLPM(T=10), 'lim': LIM, 'reflected': Reflected,
         'mdm': lambda: MDM.cld(), 'infodiff': InfoDiffusion}

def proc(name):
    if name == 'mdm' and MDM is None: pytest.skip('difflab.mdm is not there yet')
    return PROCS[name]()

zero = lambda x, c, y=None: torch.zeros_like(x)

@pytest.mark.parametrize('name', PROCS)
@pytest.mark.parametrize('bad', ['1d', 'int', 'nan', 'inf', 'list'])
def test_every_process_refuses_bad_data(name, bad):
    x0 = {'1d': torch.full((4,), .5), 'int': torch.ones(4, 2, dtype=torch.long), 'nan': torch.full((4, 2), float('nan')),
          'inf': torch.full((4, 2), float('inf')), 'list': [[.5, .5]]}[bad]
    with pytest.raises(ValueError, match=r'\bx0\b'): proc(name).loss(zero, x0)

@pytest.mark.parametrize('name', PROCS)
def test_every_process_refuses_bad_sampler_and_steps(name):
    p = proc(name)
    with pytest.raises(ValueError, match='sampler') as e: p.sample(zero, (2, 2), steps=2, sampler='nope')
    assert all(s in str(e.value) for s in p.samplers)                    # the message lists the choices
    for steps in (0, -3, float('nan'), 'abc'):
        with pytest.raises(ValueError, match='steps'): p.sample(zero, (2, 2), steps=steps)
    with pytest.raises(ValueError, match='guidance'): p.sample(zero, (2, 2), steps=2, guidance=1.0)   # guidance needs labels

def test_unknown_dataset_lists_the_names():
    with pytest.raises(ValueError) as e: D.toy2d('moon', 10)
    assert 'name' in str(e.value) and all(n in str(e.value) for n in D.toy2d_names)

def test_image_shape_mismatch_names_both_shapes():
    net = UNet(in_ch=1, size=8, ch=8, ch_mult=(1, 2), attn=())
    for x in (torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 16, 16)):
        with pytest.raises(ValueError) as e: net(x, torch.zeros(2))
        assert '(n, 1, 8, 8)' in str(e.value) and str(tuple(x.shape)) in str(e.value)

def test_labels_outside_the_classes():
    net = UNet(in_ch=1, size=8, ch=8, ch_mult=(1, 2), attn=(), num_classes=10)
    for y in ([0, 10], [-2, 0]):
        with pytest.raises(ValueError, match=r'\by\b.*\[0, 10\)'): net(torch.zeros(2, 1, 8, 8), torch.zeros(2), torch.tensor(y))

def test_data_of_the_wrong_dimension_for_the_model():
    with pytest.raises(ValueError) as e: fit(DDPM(T=10), TimeMLP(dim=2), torch.randn(32, 3), steps=1, progress=False)
    assert '(n, 2)' in str(e.value) and '3)' in str(e.value)
    with pytest.raises(ValueError, match='dimension|shape'): InfoDiffusion().nll(TimeMLP(dim=2).eval(), torch.randn(8, 3), steps=4)

@pytest.mark.parametrize('reader,files', [(D.mnist, ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte']),
                                          (D.cifar10, ['data_batch_1', 'data_batch_5'])])
def test_missing_dataset_files_say_which_where_and_how(tmp_path, reader, files):
    with pytest.raises(FileNotFoundError) as e: reader(root=tmp_path)
    msg = str(e.value)
    assert all(f in msg for f in files) and str(tmp_path) in msg and 'download=True' in msg

def test_reflected_data_outside_the_box_names_domain_and_range():
    with pytest.raises(ValueError) as e: Reflected().loss(zero, torch.tensor([[0.5, 1.25], [-0.5, 0.2]]))
    msg = str(e.value)
    assert '[0, 1]' in msg and '-0.5' in msg and '1.25' in msg

def test_reflected_sigma_order():
    for lo, hi in ((0.5, 0.5), (1.0, 0.5), (0.0, 1.0), (-1.0, 1.0)):
        with pytest.raises(ValueError, match='sigma_min'): Reflected(sigma_min=lo, sigma_max=hi)

@pytest.mark.skipif(MDM is None, reason='difflab.mdm is not there yet')
def test_mdm_matrices():
    with pytest.raises(ValueError, match=r'\bQ\b.*skew'): MDM([[0., 1.], [1., 0.]], [[0., 0.], [0., 1.]])
    with pytest.raises(ValueError, match=r'\bD\b.*semi-definite'): MDM([[0.]], [[-1.]])
    with pytest.raises(ValueError, match=r'\bK\b'): MDM(torch.zeros(0, 0), torch.zeros(0, 0))
    with pytest.raises(ValueError, match=r'\bK\b'): MDM.learned(K=0)
    with pytest.raises(ValueError, match='beta0'): MDM.vp(beta0=-0.1)

def test_alpha_outside_0_2():
    from difflab.stable import sample_stable
    for bad in (0.0, -1.0, 2.0001, 3.0, float('nan')):
        for f in (lambda a: DLPM(alpha=a), lambda a: LIM(alpha=a), lambda a: sample_stable(a, 4)):
            with pytest.raises(ValueError, match=r'\balpha\b.*\(0, 2\]'): f(bad)

def test_infodiffusion_scale_and_clip():
    for kw in (dict(scale=0.0), dict(scale=-1.0), dict(clip=0.0), dict(clip=-2.0)):
        with pytest.raises(ValueError, match=next(iter(kw))): InfoDiffusion(**kw)
