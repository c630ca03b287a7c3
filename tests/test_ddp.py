"""Data-parallel training: two CPU processes on 127.0.0.1 (gloo, launched by torchrun) against one process.

One torchrun launch (this file run as a script, two ranks) does the distributed side while pytest computes the
one-process references; the ranks write their results to a folder the test then checks:

1. Deterministic gradients: a DDPM whose t and noise are a fixed function of each data point (no RNG), so a
   batch fixes the loss. Two ranks with 64 examples each must follow the one-process batch-128 run step for
   step — logged loss and final weights — up to float rounding (the strongest check: same batches, same
   gradients, only the summation order differs).
2. The real, stochastic DDPM: the loss trajectory (means over windows of steps) matches one process with the
   doubled batch within the noise of the estimate.
3. Exact resume across ranks: stopped at step 20 (a callback's stop, agreed by all ranks) and resumed to 40 equals
   the uninterrupted 40-step run bit for bit, on both ranks (each rank's noise stream comes back from the checkpoint).
4. Rank 0 alone writes: save_checkpoint and the logger are called on rank 0 only; `difflab train` (the CLI's `main`
   under torchrun) prints one report, writes one metrics line per log point and one checkpoint.
"""
import json, math, os, socket, subprocess, sys, time
from pathlib import Path

import torch

STEPS_DET, STEPS_STO, BATCH = 100, 230, 128
HERE = Path(__file__).resolve()


def _unit(x, salt):
    "A fixed pseudo-random number in [0, 1) for each row of `x` (float64): a hash, no RNG involved."
    h = torch.sin(x[:, 0] * 12.9898 + x[:, 1] * 78.233 + salt) * 43758.5453
    return h - torch.floor(h)


def fixed_ddpm():
    from difflab.ddpm import DDPM
    from difflab.core import index_to_t

    class FixedDDPM(DDPM):
        "DDPM whose step t and noise are functions of each data point, so a batch determines the loss exactly."
        def loss(self, model, x0, y=None):
            x = x0.double()
            k = (_unit(x, 0.0) * self.T).long().clamp(max=self.T - 1)
            t = index_to_t(k, self.T).to(x0.dtype)
            r, a = torch.sqrt(-2 * torch.log1p(-_unit(x, 1.7))), 2 * math.pi * _unit(x, 3.1)
            noise = torch.stack([r * torch.cos(a), r * torch.sin(a)], 1).to(x0.dtype)
            xt, target = self.q_sample(x0, t, noise)
            return (model(xt, self.cond(t)) - target).pow(2).flatten(1).mean(1).mean()
    return FixedDDPM(T=1000)


def _model():
    from difflab.models import TimeMLP
    torch.manual_seed(5)
    return TimeMLP(hidden=64, blocks=2, emb_dim=32)


def _data():
    from difflab.data import toy2d
    return toy2d('moons', 4000, seed=0)


def runs(kind, **extra):
    "The fit calls both sides make: `det` (fixed noise) and `sto` (real DDPM)."
    from difflab.train import fit
    from difflab.ddpm import DDPM
    proc = fixed_ddpm() if kind == 'det' else DDPM()
    steps = STEPS_DET if kind == 'det' else STEPS_STO
    return fit(proc, _model(), _data(), steps=steps, batch_size=BATCH, lr=5e-3, warmup=20, log_every=10, seed=1,
               progress=False, **extra)


def _weights(m): return {k: v.detach().clone() for k, v in m.state_dict().items()}


def worker(out):
    "Runs on each rank under torchrun."
    import torch.distributed as dist
    import difflab.train as T
    from difflab.ddpm import DDPM
    torch.set_num_threads(1)
    tick = [time.perf_counter()]
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    out, res = Path(out), {}
    ema, hist = runs('det')
    res['det_loss'] = [h['loss'] for h in hist]; tick.append(time.perf_counter())
    torch.save(_weights(ema), out / f'det_ema_{rank}.pt')
    _, hist = runs('sto')
    res['sto_loss'] = [h['loss'] for h in hist]; tick.append(time.perf_counter())

    saves, real_save = [], T.save_checkpoint                         # who writes checkpoints
    T.save_checkpoint = lambda *a, **k: (saves.append(k.get('step', a[4] if len(a) > 4 else None)), real_save(*a, **k))[1]

    class Recorder(T.Logger):
        def __init__(self): self.rows = []
        def log(self, step, metrics): self.rows.append(step)
    rec = Recorder()
    kw = dict(steps=40, batch_size=BATCH, lr=5e-3, warmup=5, log_every=10, seed=3, progress=False)
    ck = out / 'resume.pt'
    raw_a = _model(); ema_a, hist_a = T.fit(DDPM(), raw_a, _data(), **kw)
    T.fit(DDPM(), _model(), _data(), ckpt=ck, callback=lambda info: info['step'] == 20, log=rec, **kw)
    dist.barrier()                                                    # the checkpoint is on disk for every rank
    torch.manual_seed(1000 + rank)                                    # disturb: resume must restore each rank's stream
    raw_b = _model(); ema_b, hist_b = T.fit(DDPM(), raw_b, _data(), ckpt=ck, resume=True, log=rec, **kw)
    same = lambda a, b: all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    res.update(resume_exact=same(raw_a, raw_b) and same(ema_a, ema_b) and [h['loss'] for h in hist_a] == [h['loss'] for h in hist_b],
               saves=saves, logged=rec.rows)
    T.save_checkpoint = real_save; tick.append(time.perf_counter())

    import contextlib, io
    from difflab.cli import main
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res['cli_rc'] = main(['train', '--config', 'moons_ddpm', '--root', str(out / 'runs'), '--name', 'cli', 'steps=100', 'batch_size=128',
                              'n_data=4000', '--no-progress'])
    res['cli_stdout'] = buf.getvalue(); tick.append(time.perf_counter())
    res['ticks'] = [round(b - a, 2) for a, b in zip(tick, tick[1:])]
    res['started'] = time.time() - (time.perf_counter() - tick[0])
    res['dist_still_up'] = dist.is_initialized()                     # train() leaves a group it did not create
    (out / f'rank{rank}.json').write_text(json.dumps(res))
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    t0 = time.perf_counter(); w0 = time.time()
    torchrun = str(Path(sys.executable).parent / 'torchrun')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env.pop('WORLD_SIZE', None)
    p = subprocess.Popen([torchrun, '--nproc_per_node=2', '--master_addr=127.0.0.1', f'--master_port={_free_port()}',
                          str(HERE), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    torch.set_num_threads(1)                                          # meanwhile: the one-process references
    ema1, det1 = runs('det')
    _, sto1 = runs('sto'); t_ref = time.perf_counter() - t0
    log, _ = p.communicate(timeout=240)
    assert p.returncode == 0, log[-4000:]
    r0, r1 = (json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1))

    # 1. fixed noise: the same trajectory as one process with the doubled batch, to float rounding
    one = torch.tensor([h['loss'] for h in det1])
    for r in (r0, r1):
        two = torch.tensor(r['det_loss'])
        assert torch.allclose(two, one, rtol=1e-5, atol=0), (two - one).abs().max()
    for rank in (0, 1):
        w2 = torch.load(tmp_path / f'det_ema_{rank}.pt')
        for k, v in ema1.state_dict().items():
            assert torch.allclose(w2[k], v, rtol=1e-4, atol=1e-6), (k, (w2[k] - v).abs().max())
    # 2. real DDPM: the same loss trajectory within noise (means over windows of 70 steps after warm-up)
    assert r0['sto_loss'] == r1['sto_loss']                           # all-reduced: every rank logs the same numbers
    one, two = torch.tensor([h['loss'] for h in sto1]), torch.tensor(r0['sto_loss'])
    w1, w2 = one[2:].reshape(-1, 7).mean(1), two[2:].reshape(-1, 7).mean(1)
    assert ((w2 - w1).abs() / w1).max() < 0.1, (w1, w2)
    assert not torch.equal(one, two)                                  # ranks draw their own noise: not a copy
    # 3. exact resume on both ranks
    assert r0['resume_exact'] and r1['resume_exact']
    # 4. rank 0 alone writes
    assert r0['saves'] == [20, 40] and r1['saves'] == [], (r0['saves'], r1['saves'])
    assert r0['logged'] == [10, 20, 30, 40] and r1['logged'] == []
    assert r0['cli_rc'] == r1['cli_rc'] == 0
    assert r0['cli_stdout'].count('trained ddpm on moons') == 1 and 'on 2 processes' in r0['cli_stdout'] and r1['cli_stdout'] == ''
    assert r0['dist_still_up'] and r1['dist_still_up']
    run = tmp_path / 'runs' / 'cli'
    lines = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert [h['step'] for h in lines] == [50, 100]
    assert sorted(p.name for p in (run / 'checkpoints').iterdir()) == ['latest.pt']
    ck = torch.load(run / 'checkpoints' / 'latest.pt', weights_only=True)
    assert ck['world_size'] == 2 and len(ck['rng_ranks']) == 2 and ck['step'] == 100
    assert not torch.equal(ck['rng_ranks'][0]['cpu'], ck['rng_ranks'][1]['cpu'])
    rel = max((torch.tensor(r['det_loss']) - torch.tensor([h['loss'] for h in det1])).abs().max().item() for r in (r0, r1))
    print(f'two-process DDP test: {time.perf_counter() - t0:.1f} s; fixed noise: max |loss difference| {rel:.2e}; '
          f'real DDPM window means, one process {w1.tolist()} vs two {w2.tolist()}; references done at {t_ref:.1f} s, '
          f'workers started at {r0["started"] - w0:.1f} s, phases {r0["ticks"]}')


if __name__ == '__main__':
    worker(sys.argv[1])
