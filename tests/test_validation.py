"""Bad input everywhere public: each bad value of every registered parameter raises ValueError naming the parameter,
each good value passes, and the registry (difflab.reliability, from nbs/90_reliability.ipynb) lists every parameter of
the entry points it covers, so the docs table cannot drift from the code. The processes' rows are generated from what
each registered process declares; a process in the user's own module gets them too (tested below). Known gaps are
strict xfails: fixing one makes its test XPASS and fail, so the gap must then be removed from `reliability.GAPS`."""
import sys
import textwrap

import pytest
import torch
from difflab import reliability as R
from difflab.core import processes, _REGISTRY

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")      # numpy warns on some known-gap probes (inf)
REG = R.param_registry()

@pytest.fixture(scope='module')
def entries(): return R.entry_points()

def _params(kind):
    out = []
    for key, where, name, v in R.cases(kind, REG):
        gap = R.gap_of(key, kind)
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

def test_every_process_and_method_is_covered():
    "Every registered process and variant has a constructor entry, every process its contract methods (nll where defined)."
    from difflab.core import DiffusionProcess, process_specs
    assert set(process_specs()) <= set(REG)
    for name, cls in processes().items():
        for method in ('sample', 'loss', 'q_sample'):
            assert f'{name}.{method}' in REG
        assert (f'{name}.nll' in REG) == (cls.nll is not DiffusionProcess.nll), name

def test_every_gap_is_live():
    "Each known gap matches at least one registered probe of its kind (a stale gap would hide nothing and mislead)."
    keys = {kind: [k for k, *_ in R.cases(kind, REG)] for kind in ('bad', 'good')}
    for g in R.GAPS: assert any(g.matches(k, g.kind) for k in keys[g.kind]), g

def test_table_has_a_row_per_parameter():
    rows = R.param_table(REG).splitlines()[2:]
    assert len(rows) == sum(map(len, REG.values()))

def test_no_process_is_named_outside_its_notebook():
    "The reliability module and the generic test files keep no list of processes: no process class is named in them."
    import re
    from pathlib import Path
    import difflab.reliability
    here = Path(__file__).parent
    files = [Path(difflab.reliability.__file__)] + [here / f for f in ('test_validation.py', 'test_properties.py', 'test_extremes.py')]
    for f in files:
        source = f.read_text()
        for cls in processes().values():
            assert not re.search(rf'\b{cls.__name__}\b', source), (f.name, cls.__name__)

# ---------------------------------------------------------------- a process in the user's own module
USER_MODULE = textwrap.dedent('''
    """A user's own process: a straight-line Gaussian path, a tilt, and a step count."""
    import torch
    from difflab.core import Param
    from difflab.gaussian import GaussianPath


    class LineProcess(GaussianPath):
        name = 'user_line'
        t_max = 0.999
        params = {
            'tilt': Param(1.0, lo=0.5, hi=2.0, doc='how fast the signal fades'),
            'floor': Param(0.0, lo=0, hi=0.5, hi_open=True, doc='noise at t = 0'),
            'T': Param(500, lo=2, integer=True, doc='time grid'),
            'mode': Param('plain', choices=('plain', 'squared'), doc='how sigma grows'),
        }
        constraints = {'floor < tilt / 4': {'floor': (0.4,)}}

        def __init__(self, tilt=1.0, floor=0.0, T=500, mode='plain'):
            for key, value in (('tilt', tilt), ('floor', floor), ('T', T), ('mode', mode)):
                setattr(self, key, self.params[key].check(key, value))
            if self.floor >= self.tilt / 4:
                raise ValueError(f"floor must be below tilt / 4, got floor={floor}, tilt={tilt}")

        def marginal(self, t):
            t = torch.as_tensor(t, dtype=torch.float64)
            grow = t if self.mode == 'plain' else t * t
            return (1 - t) ** self.tilt, self.floor + (1 - self.floor) * grow

        def nll(self, model, x0, y=None, steps: int = 100, unit: str = 'nats'):
            from difflab.core import check_choice, check_int
            x0 = self.check_x0(x0)
            check_int('steps', steps, 1)
            check_choice('unit', unit, ('nats', 'bpd'))
            return 0.5 * x0.double().flatten(1).pow(2).sum(1)
''')

@pytest.fixture()
def user_process(tmp_path, monkeypatch):
    (tmp_path / 'userprocess_for_validation.py').write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop('userprocess_for_validation', None)
    __import__('userprocess_for_validation')
    yield 'user_line'
    sys.modules.pop('userprocess_for_validation', None)
    _REGISTRY.pop('user_line', None)

def test_user_process_gets_every_probe(user_process):
    "A process written outside difflab: constructor, methods and its nll's own options are all generated and pass."
    reg, runs = {}, {}
    for key, (target, run, rules) in R.process_entries().items():
        if key.split('.')[0] == user_process:
            reg[key], runs[key] = rules, (target, run)
    assert set(reg) == {'user_line', 'user_line.sample', 'user_line.loss', 'user_line.q_sample', 'user_line.nll'}
    assert 0.4 in reg['user_line']['floor'].bad                          # the declared constraint
    assert 2.0 in reg['user_line']['tilt'].good and 0.5 in reg['user_line']['tilt'].good   # closed ends
    assert 2.5 in reg['user_line']['T'].bad and 1 in reg['user_line']['T'].bad          # non-integer, below lo
    assert 'bpd' in reg['user_line.nll']['unit'].good and 0 in reg['user_line.nll']['steps'].bad   # by name
    n, problems = 0, []
    for kind in ('bad', 'good'):
        for key, where, name, v in R.cases(kind, reg):
            n += 1
            if (p := R.check(where, name, v, kind, runs, reg)) is not None:
                problems.append((key, p))
    assert not problems, problems
    assert n >= 60, n

def test_user_process_that_forgets_a_check_is_caught(user_process):
    "The generated probes bite: a subclass that stores `tilt` unchecked fails every bad probe of `tilt`."
    base = processes()[user_process]

    class LaxLine(base):
        name = 'user_lax'

        def __init__(self, tilt=1.0, floor=0.0, T=500, mode='plain'):
            super().__init__(1.0, floor, T, mode)
            self.tilt = tilt

    try:
        target, run, rules = R.process_entries()['user_lax']
        found = {R.short(v): R.check('user_lax', 'tilt', v, 'bad', {'user_lax': (target, run)}, {'user_lax': rules})
                 for v in rules['tilt'].bad}
        assert len(found) == len(rules['tilt'].bad) >= 4 and set(found.values()) == {'accepted'}, found
    finally:
        _REGISTRY.pop('user_lax', None)

# ---------------------------------------------------------------- data-level bad input, for every process
zero = lambda x, c, y=None: torch.zeros_like(x)
NAMES = list(processes())

def make(name):
    from difflab.core import default_spec, make_process
    return make_process(default_spec(name), **R.small_kwargs(processes()[name]))

@pytest.mark.parametrize('name', NAMES)
def test_every_process_refuses_bad_sampler_and_guidance(name):
    p = make(name)
    with pytest.raises(ValueError, match='sampler') as e: p.sample(zero, (2, 2), steps=2, sampler='nope')
    assert all(s in str(e.value) for s in p.samplers)                    # the message lists the choices
    with pytest.raises(ValueError, match='guidance'): p.sample(zero, (2, 2), steps=2, guidance=1.0)   # needs labels

@pytest.mark.parametrize('name', [n for n in NAMES if processes()[n].domain == 'box'])
def test_data_outside_the_box_names_domain_and_range(name):
    with pytest.raises(ValueError) as e: make(name).loss(zero, torch.tensor([[0.5, 1.25], [-0.5, 0.2]]))
    msg = str(e.value)
    assert '[0, 1]' in msg and '-0.5' in msg and '1.25' in msg

TAILS = [n for n in NAMES if any(a.name == 'alpha' for a in R._arguments(processes()[n]))]

@pytest.mark.parametrize('name', TAILS)
def test_tail_index_outside_0_2(name):
    "`alpha` is the tail index wherever a process takes it (one name, one meaning): (0, 2]."
    cls = processes()[name]
    for bad in (0.0, -1.0, 2.0001, 3.0, float('nan')):
        with pytest.raises(ValueError, match=r'\balpha\b.*\(0, 2\]'): cls(alpha=bad)
    assert cls(alpha=2.0).alpha == 2.0

def test_sample_stable_alpha_outside_0_2():
    from difflab.stable import sample_stable
    for bad in (0.0, -1.0, 2.0001, 3.0, float('nan')):
        with pytest.raises(ValueError, match=r'\balpha\b.*\(0, 2\]'): sample_stable(bad, 4)

@pytest.mark.parametrize('name', NAMES)
def test_data_of_the_wrong_dimension_for_the_model(name):
    from difflab.models import TimeMLP
    from difflab.train import fit
    p = make(name)
    dim = p.state_shape((1, 2))[1]
    with pytest.raises(ValueError) as e: fit(p, p.wrap_model(TimeMLP(dim=dim)), torch.rand(32, 3), steps=1, progress=False)
    assert f'(n, {dim})' in str(e.value) and '3)' in str(e.value)
    if 'nll' in R.process_methods(type(p)):
        with pytest.raises(ValueError, match='dimension|shape'): p.nll(p.wrap_model(TimeMLP(dim=dim)).eval(), torch.rand(8, 3))

# ---------------------------------------------------------------- outside the processes
from difflab.models import TimeMLP, UNet
from difflab.train import fit
from difflab import data as D

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

@pytest.mark.parametrize('reader,files', [(D.mnist, ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte']),
                                          (D.cifar10, ['data_batch_1', 'data_batch_5'])])
def test_missing_dataset_files_say_which_where_and_how(tmp_path, reader, files):
    with pytest.raises(FileNotFoundError) as e: reader(root=tmp_path)
    msg = str(e.value)
    assert all(f in msg for f in files) and str(tmp_path) in msg and 'download=True' in msg
