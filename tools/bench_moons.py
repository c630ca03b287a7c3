"""Benchmark: DDPM on standardized moons (make_moons noise 0.05), one CPU thread.

Trains with `DDPM.recipe_2d()` (or the overrides given on the command line), then draws 4,000 samples and prints
the training time (wall and CPU seconds) and the sliced Wasserstein distance to 8,000 fresh data points, next
to the data-to-data floor and a Gaussian fit.

    .venv/bin/python tools/bench_moons.py                 # the documented recipe
    .venv/bin/python tools/bench_moons.py --seeds 0 1 2 3 4          # five seeds
    .venv/bin/python tools/bench_moons.py --schedule linear --sample_steps 1000 --lr 3e-3
"""
import argparse, json, time
import torch

def main(argv=None):
    from difflab.ddpm import DDPM
    from difflab.models import TimeMLP
    from difflab.train import fit
    from difflab.data import toy2d
    from difflab.metrics import sliced_wasserstein
    r = DDPM.recipe_2d()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    opts = {**r['process'], **r['model'], **r['fit'], **{'sample_' + k: v for k, v in r['sample'].items()}}
    for k, v in opts.items():
        ap.add_argument('--' + k, type=type(v), default=v)
    ap.add_argument('--n_data', type=int, default=r['n_data'])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('--threads', type=int, default=1)
    a = vars(ap.parse_args(argv))
    torch.set_num_threads(a['threads'])
    pick = lambda d: {k: a[k] for k in d}
    ref = toy2d('moons', 8000, seed=10_000)
    floor = sliced_wasserstein(toy2d('moons', 4000, seed=20_000), ref).item()
    g = torch.Generator().manual_seed(0)
    data0 = toy2d('moons', 4000, seed=30_000)
    gauss = data0.mean(0) + torch.randn(4000, 2, generator=g) @ torch.linalg.cholesky(torch.cov(data0.T)).T
    print(f"floor (data vs data) {floor:.4f}   Gaussian fit {sliced_wasserstein(gauss, ref).item():.4f}")
    out = []
    for seed in a['seeds']:
        proc = DDPM(**pick(r['process']))
        torch.manual_seed(seed)
        model = TimeMLP(**pick(r['model']))
        data = toy2d('moons', a['n_data'], seed=seed)
        w0, c0 = time.perf_counter(), time.process_time()
        ema, hist = fit(proc, model, data, seed=seed, progress=False, threads=a['threads'], **pick(r['fit']))
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        torch.manual_seed(seed + 1)
        s0 = time.perf_counter()
        xs = proc.sample(ema, (4000, 2), **{k: a['sample_' + k] for k in r['sample']})
        swd = sliced_wasserstein(xs, ref).item()
        out.append(dict(seed=seed, train_wall_s=round(wall, 2), train_cpu_s=round(cpu, 2), sample_s=round(time.perf_counter() - s0, 2), swd=round(swd, 4)))
        print(json.dumps(out[-1]))
    sw = [o['swd'] for o in out]
    print(f"mean SWD {sum(sw)/len(sw):.4f} (max {max(sw):.4f}); mean training {sum(o['train_wall_s'] for o in out)/len(out):.2f} s wall, "
          f"{sum(o['train_cpu_s'] for o in out)/len(out):.2f} s CPU on {a['threads']} thread(s)")
    return out

if __name__ == '__main__': main()
