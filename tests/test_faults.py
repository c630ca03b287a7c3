"""Faults and safety: SIGKILL during a checkpoint write, SIGINT, unreadable / foreign checkpoints, a full disk, exact resume;
weights_only loading, safe YAML, no network at run time. See nbs/90_reliability.ipynb."""
import ast, errno, importlib.util, io, json, os, signal, subprocess, sys, textwrap, time, types
from pathlib import Path
import pytest
import torch

from difflab.models import TimeMLP, UNet
from difflab.train import save_checkpoint, load_checkpoint, CheckpointError

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / 'difflab')
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
torch.set_num_threads(1)

# One small training job, imported by the tests and run as a child process. As a script it wraps torch.save so that
# write number $DIFFLAB_TEST_SLOW_SAVE stalls halfway through the file (after touching $DIFFLAB_TEST_MARKER).
JOB = '''
import io, os, sys, time, torch
from difflab.ddpm import DDPM
from difflab.models import TimeMLP
from difflab.train import fit
from difflab.data import toy2d
KW = dict(batch_size=64, lr=3e-3, ema=0.99, warmup=5, ckpt_every=10, progress=False, seed=0, threads=1, log_every=5)

def run(ckpt=None, steps=30, resume=False, stop_at=None):
    "Train from a fixed initialisation (stopping after step `stop_at` if given); returns (model, ema_model, history)."
    torch.manual_seed(0)
    model = TimeMLP(hidden=32, blocks=1)
    stop = (lambda e: e['step'] >= stop_at) if stop_at else None
    ema, hist = fit(DDPM(T=50), model, toy2d('moons', 512), steps=steps, ckpt=ckpt, resume=resume, callback=stop, **KW)
    return model, ema, hist

if __name__ == '__main__':
    slow_at, marker, real_save, count = int(os.environ['DIFFLAB_TEST_SLOW_SAVE']), os.environ['DIFFLAB_TEST_MARKER'], torch.save, [0]
    def slow_save(obj, f, *a, **k):
        count[0] += 1
        if count[0] != slow_at: return real_save(obj, f, *a, **k)
        buf = io.BytesIO(); real_save(obj, buf, *a, **k); raw = buf.getvalue()
        f.write(raw[:len(raw) // 2]); f.flush(); os.fsync(f.fileno())
        with open(marker, 'w') as m: m.write(str(len(raw)))
        time.sleep(300)
        f.write(raw[len(raw) // 2:])
    torch.save = slow_save
    run(sys.argv[1], steps=int(sys.argv[2]), resume=True)
'''

@pytest.fixture()
def job(tmp_path):
    p = tmp_path / 'job.py'
    p.write_text(JOB)
    spec = importlib.util.spec_from_file_location('difflab_fault_job', p)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    mod.path = p
    return mod

def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

def wait_for(cond, timeout, proc=None, what=''):
    t0 = time.time()
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f'child exited early ({proc.returncode}) waiting for {what}: {proc.stderr.read()[-2000:]}')
        if time.time() - t0 > timeout: raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.05)

# ------------------------------------------------------------------------------------------------ interruptions
def test_resume_equals_uninterrupted(job, tmp_path):
    "15 + 15 steps with a checkpoint in between equal 30 uninterrupted steps exactly (CPU, same seed): weights, EMA, history."
    m_full, e_full, h_full = job.run(None, steps=30)
    ck = tmp_path / 'ck.pt'
    job.run(ck, steps=30, stop_at=15)                     # stops at a log point and checkpoints that step
    assert load_checkpoint(ck)['step'] == 15
    m_res, e_res, h_res = job.run(ck, steps=30, resume=True)
    assert same_weights(m_res, m_full) and same_weights(e_res, e_full)
    assert [(h['step'], h['loss']) for h in h_res] == [(h['step'], h['loss']) for h in h_full]

def test_sigkill_during_checkpoint_write(job, tmp_path):
    "SIGKILL while the second checkpoint is half written: the first stays intact, loads, and resuming from it equals the uninterrupted run."
    ck, marker = tmp_path / 'latest.pt', tmp_path / 'writing'
    env = dict(ENV, DIFFLAB_TEST_SLOW_SAVE='2', DIFFLAB_TEST_MARKER=str(marker))
    p = subprocess.Popen([sys.executable, str(job.path), str(ck), '30'], env=env, stderr=subprocess.PIPE, text=True)
    try: wait_for(marker.exists, 240, p, 'the stalled checkpoint write')
    finally:
        p.kill(); p.wait(30)
    assert p.returncode == -signal.SIGKILL
    partial = [f for f in tmp_path.iterdir() if f.name.startswith('.latest.pt.') and f.name.endswith('.tmp')]
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < int(marker.read_text())     # killed mid-write
    st = load_checkpoint(ck, TimeMLP(hidden=32, blocks=1))
    assert st['step'] == 10                                             # the previous checkpoint, intact
    m_res, e_res, _ = job.run(ck, steps=30, resume=True)                # resumable ...
    m_full, e_full, _ = job.run(None, steps=30)
    assert same_weights(m_res, m_full) and same_weights(e_res, e_full)  # ... and exact
    assert load_checkpoint(ck)['step'] == 30
    assert not [f.name for f in tmp_path.iterdir() if f.name.endswith('.tmp')]   # the killed writer's temp file is gone

def test_stale_temp_files_are_removed_on_the_next_save(tmp_path):
    "A `.NAME.PID.tmp` whose writer is dead is deleted by the next save of NAME; a live writer's, another file's and a foreign name are kept; loads ignore them."
    ck = tmp_path / 'latest.pt'
    _good_ckpt(ck)
    dead = subprocess.Popen([sys.executable, '-c', '']); dead.wait()
    writer = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        names = [f'.latest.pt.{dead.pid}.tmp', f'.latest.pt.{writer.pid}.tmp', f'.other.pt.{dead.pid}.tmp', '.latest.pt.x.tmp']
        for n in names: (tmp_path / n).write_bytes(b'partial')
        assert load_checkpoint(ck)['step'] == 7
        save_checkpoint(ck, TimeMLP(hidden=16, blocks=1), step=8)
        assert sorted(f.name for f in tmp_path.iterdir()) == sorted(['latest.pt'] + names[1:])
        assert load_checkpoint(ck)['step'] == 8
    finally:
        writer.kill(); writer.wait()

def test_sigint_saves_a_checkpoint_and_resume_works(tmp_path):
    "SIGINT to `difflab train` stops at a step boundary, saves that step (exit 130, one line), and --resume continues from it."
    args = ['--config', 'moons_ddpm', '--root', str(tmp_path), '--name', 'int', 'n_data=1000', 'batch_size=64',
            'check_every=100000', 'log_every=5', 'warmup=5', 'process_args.T=50']
    log = tmp_path / 'int' / 'metrics.jsonl'
    p = subprocess.Popen([EXE, 'train', *args, 'steps=100000', '--no-progress'], env=ENV, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, 240, p, 'training to start')
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    assert p.returncode == 130, err
    assert 'interrupted' in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    st = load_checkpoint(tmp_path / 'int' / 'checkpoints' / 'latest.pt')
    last = json.loads(log.read_text().splitlines()[-1])['step']
    assert 0 < st['step'] == last < 100000
    from difflab.experiment import load_config, train        # resume through the code path `difflab train --resume` takes
    cfg = load_config('moons_ddpm', [a for a in args if '=' in a] + [f'steps={last + 10}', f'root={tmp_path}', 'name=int'])
    _, hist, _, _ = train(cfg, resume=True, progress=False)
    steps = [json.loads(l)['step'] for l in log.read_text().splitlines()]
    assert hist[-1]['step'] == steps[-1] == last + 10 and steps == sorted(steps) and len(set(steps)) == len(steps)

# ------------------------------------------------------------------------------------------------ unreadable checkpoints
def _good_ckpt(path):
    torch.manual_seed(0)
    m = TimeMLP(hidden=16, blocks=1)
    save_checkpoint(path, m, step=7)
    return m

CORRUPTIONS = {
    'truncated': lambda b: b[:len(b) // 2],
    'empty': lambda b: b'',
    'tail_zeroed': lambda b: b[:-300] + bytes(300),
    'garbage': lambda b: os.urandom(len(b)),
    'text': lambda b: b'not a checkpoint at all\n',
}

@pytest.mark.parametrize('kind', CORRUPTIONS)
def test_unreadable_checkpoint_names_the_file(tmp_path, job, kind):
    ck = tmp_path / 'latest.pt'
    _good_ckpt(ck)
    ck.write_bytes(CORRUPTIONS[kind](ck.read_bytes()))
    before = ck.read_bytes()
    with pytest.raises(CheckpointError, match=str(ck)): load_checkpoint(ck, TimeMLP(hidden=16, blocks=1))
    with pytest.raises(CheckpointError, match=str(ck)): job.run(ck, steps=20, resume=True)   # fit --resume refuses too ...
    assert ck.read_bytes() == before                                                      # ... and overwrites nothing

def test_foreign_checkpoints_name_the_file(tmp_path):
    ck = tmp_path / 'c.pt'
    torch.save({'weights': torch.zeros(3)}, ck)                                 # a valid torch file, not ours
    with pytest.raises(CheckpointError, match=f'{ck}.*not a difflab checkpoint'): load_checkpoint(ck)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'missing.pt')): load_checkpoint(tmp_path / 'missing.pt')

@pytest.mark.parametrize('other', [lambda: TimeMLP(hidden=32, blocks=1), lambda: TimeMLP(hidden=16, blocks=2),
                                   lambda: UNet(in_ch=1, size=8, ch=8, ch_mult=(1, 2), attn=())], ids=['wider', 'deeper', 'unet'])
def test_wrong_model_checkpoint_names_file_and_mismatch(tmp_path, other):
    ck = tmp_path / 'c.pt'
    _good_ckpt(ck)
    model = other(); before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=f'{ck}.*does not fit {type(model).__name__}'): load_checkpoint(ck, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())         # the model is left untouched

def test_bit_flip_in_tensor_data_is_detected(tmp_path):
    "One flipped bit inside the tensor data (which torch.load alone reads silently) fails the zip CRC check, naming the file."
    ck = tmp_path / 'c.pt'
    m = _good_ckpt(ck)
    raw = ck.read_bytes()
    i = raw.find(m.inp.weight.detach().numpy().tobytes()[:16])
    assert i > 0
    ck.write_bytes(raw[:i + 5] + bytes([raw[i + 5] ^ 0x40]) + raw[i + 6:])
    with pytest.raises(CheckpointError, match=str(ck)): load_checkpoint(ck, TimeMLP(hidden=16, blocks=1))

@pytest.fixture(scope='module')
def cli_corrupted(tmp_path_factory):
    "`difflab train --resume` run once on a run whose checkpoint was truncated: (completed process, checkpoint path, its bytes before)."
    from difflab.experiment import load_config, train
    tmp_path = tmp_path_factory.mktemp('cli_corrupted')
    cfg = load_config('moons_ddpm', [f'root={tmp_path}', 'name=c', 'steps=10', 'check_every=10', 'n_data=500',
                                     'process_args.T=20', 'batch_size=32'])
    train(cfg, progress=False)
    ck = tmp_path / 'c' / 'checkpoints' / 'latest.pt'
    ck.write_bytes(ck.read_bytes()[:1000])
    before = ck.read_bytes()
    r = subprocess.run([EXE, 'train', '--config', 'moons_ddpm', '--root', str(tmp_path), '--name', 'c', 'steps=20', 'check_every=10',
                        'n_data=500', 'process_args.T=20', 'batch_size=32', '--resume', '--no-progress'],
                       env=ENV, capture_output=True, text=True, timeout=300)
    return r, ck, before

def test_cli_resume_from_corrupted_checkpoint(cli_corrupted):
    r, ck, before = cli_corrupted
    assert r.returncode != 0 and str(ck) in r.stderr and ck.read_bytes() == before

def test_cli_corrupted_checkpoint_is_one_line_exit_2(cli_corrupted):
    r, ck, _ = cli_corrupted
    assert r.returncode == 2 and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

# ------------------------------------------------------------------------------------------------ a full disk
def _enospc(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device')

def _half_then_enospc(obj, f, *a, **k):
    f.write(b'\0' * 4096)
    _enospc()

@pytest.mark.parametrize('where', ['torch.save', 'os.replace'])
def test_failed_write_keeps_the_old_checkpoint(job, tmp_path, monkeypatch, where):
    "Disk full while writing (torch.save) or renaming (os.replace): the error propagates, the old checkpoint is byte-identical, no temp file is left, and training resumes exactly."
    import difflab.train as T
    ck = tmp_path / 'latest.pt'
    job.run(ck, steps=30, stop_at=10)
    before = ck.read_bytes()
    with monkeypatch.context() as mp:
        if where == 'torch.save': mp.setattr(torch, 'save', _half_then_enospc)
        else: mp.setattr(T, 'os', types.SimpleNamespace(**{**vars(os), 'replace': _enospc}))
        with pytest.raises(OSError) as e: job.run(ck, steps=30, resume=True)
    assert e.value.errno == errno.ENOSPC
    assert ck.read_bytes() == before and load_checkpoint(ck)['step'] == 10
    assert sorted(f.name for f in tmp_path.iterdir()) == ['job.py', 'latest.pt']
    m_res, e_res, _ = job.run(ck, steps=30, resume=True)
    m_full, e_full, _ = job.run(None, steps=30)
    assert same_weights(m_res, m_full) and same_weights(e_res, e_full)

# ------------------------------------------------------------------------------------------------ safety
LIB = sorted(p for p in (ROOT / 'difflab').glob('*.py') if p.name != '_modidx.py')
_TREES = {}

def _tree(p):
    if p not in _TREES: _TREES[p] = list(ast.walk(ast.parse(p.read_text())))
    return _TREES[p]

def _calls(attr_of):
    "(file, line, call node) for every call `<name>.<attr>(...)` in difflab/*.py with (name, attr) in `attr_of`."
    for p in LIB:
        for node in _tree(p):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                if (node.func.value.id, node.func.attr) in attr_of: yield p.name, node.lineno, node

def test_every_torch_load_is_weights_only():
    found = list(_calls({('torch', 'load')}))
    assert found, 'no torch.load found: the scan is broken'
    bad = [(f, l) for f, l, n in found
           if not any(k.arg == 'weights_only' and isinstance(k.value, ast.Constant) and k.value.value is True for k in n.keywords)]
    assert not bad, f'torch.load without weights_only=True at {bad}'

def test_yaml_is_loaded_safely_and_nothing_unpickles():
    unsafe = {('yaml', a) for a in ('load', 'load_all', 'full_load', 'full_load_all', 'unsafe_load', 'unsafe_load_all')}
    unsafe |= {('pickle', 'load'), ('pickle', 'loads'), ('np', 'load'), ('numpy', 'load'), ('torch', 'jit')}
    found = [(f, l, n.func.attr) for f, l, n in _calls(unsafe)]
    assert not found, f'unsafe deserialisation at {found}'
    assert list(_calls({('yaml', 'safe_load')})), 'no yaml.safe_load found: the scan is broken'
    for p in LIB:                                          # no eval / exec of text
        calls = [n for n in _tree(p) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        assert not [n.lineno for n in calls if n.func.id in ('eval', 'exec')], p.name

def test_a_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    "A checkpoint whose pickle would run code is refused by weights_only=True; the code never runs."
    flag = tmp_path / 'pwned'
    class Evil:
        def __reduce__(self): return (os.system, (f'touch {flag}',))
    ck = tmp_path / 'evil.pt'
    torch.save({'format': 'difflab-checkpoint-1', 'model': {}, 'step': 0, 'payload': Evil()}, ck)
    with pytest.raises(CheckpointError, match=str(ck)): load_checkpoint(ck)
    assert not flag.exists()

NO_NET = textwrap.dedent('''
    import socket, importlib, pkgutil, sys, tempfile, pathlib, torch
    class NoNetwork(OSError): pass
    def refuse(*a, **k): raise NoNetwork('network access attempted')
    socket.socket = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse; socket.socketpair = refuse
    torch.set_num_threads(1)
    import difflab
    mods = sorted(m.name for m in pkgutil.iter_modules(difflab.__path__) if not m.name.startswith('_'))
    for m in mods: importlib.import_module('difflab.' + m)
    from difflab.core import bcast
    from difflab.data import toy2d, digits, mnist
    from difflab.models import TimeMLP, UNet
    from difflab.train import fit
    from difflab.ddpm import DDPM, load_pretrained
    from difflab.dlpm import DLPM
    from difflab.lim import LIM
    from difflab.reflected import Reflected
    from difflab.mdm import MDM
    from difflab.infodiff import InfoDiffusion
    x = toy2d('moons', 256)
    for p, d in [(DDPM(T=20), x), (DLPM(T=20), x), (LIM(), x), (Reflected(), toy2d('box', 256)), (MDM.cld(), x), (InfoDiffusion(), x)]:
        ema, hist = fit(p, TimeMLP(dim=p.state_shape((1, 2))[1], hidden=16, blocks=1), d, steps=3, batch_size=32, progress=False)
        assert torch.isfinite(p.sample(ema, (8, 2), steps=2)).all()
    img, lab = digits()
    try: proc, net = load_pretrained()                  # the shipped digits model, where it is shipped
    except FileNotFoundError: proc, net = DDPM(T=20), UNet(in_ch=1, size=8, ch=8, ch_mult=(1, 2), attn=(), num_classes=10).eval()
    assert proc.sample(net, (2, 1, 8, 8), steps=2, sampler='ddim', y=lab[:2], guidance=1.0).shape == (2, 1, 8, 8)
    root = pathlib.Path(tempfile.mkdtemp())
    try: mnist(root=root)
    except FileNotFoundError: pass
    try: mnist(root=root, download=True); raise SystemExit('download=True did not try the network')
    except Exception as e:
        chain, seen = e, []
        while chain is not None: seen.append(type(chain).__name__); chain = chain.__cause__ or chain.__context__
        assert 'NoNetwork' in seen or 'network access attempted' in str(e), (seen, e)
    print('OK', len(mods))
''')

def test_no_network_at_run_time_unless_download(tmp_path):
    "Importing every module, training and sampling every process, the shipped model and digits use no socket; only download=True does."
    r = subprocess.run([sys.executable, '-c', NO_NET], env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith('OK'), r.stdout[-2000:] + r.stderr[-4000:]
