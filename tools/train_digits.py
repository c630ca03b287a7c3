"""Train the shipped class-conditional digits DDPM (`data/ddpm_digits.pt`) and report its sample quality.

    .venv/bin/python tools/train_digits.py                       # train with DDPM.recipe_digits(), evaluate, write data/ddpm_digits.pt
    .venv/bin/python tools/train_digits.py --eval-only           # evaluate the file given by --out (default: the shipped one)

Reports the training CPU time (one thread), the share of guided (w=2) samples that the digits classifier assigns
to their requested class, and FD-digits of unconditional and guided samples next to the real-vs-real baseline.
"""
import argparse, json, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parent.parent

def evaluate(proc, model, n_per_class=90, steps=50, seed=0):
    "Guided/conditional/unconditional samples (900 each, DDIM) scored by the digits classifier and FD-digits against 898 real digits."
    from difflab.metrics import classify_digits, fd_digits, fd_digits_baseline
    from difflab.data import digits
    real, _ = digits()
    half = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:len(real) // 2]]
    y = torch.arange(10).repeat_interleave(n_per_class)
    out = {}
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    guided = proc.sample(model, (len(y), 1, 8, 8), steps=steps, y=y, guidance=2.0, sampler='ddim')
    out['sample_wall_s_guided'] = round(time.perf_counter() - t0, 1)
    out['guided_w2_accuracy'] = (classify_digits(guided) == y).double().mean().item()
    out['fd_guided_w2'] = fd_digits(guided, half)
    cond = proc.sample(model, (len(y), 1, 8, 8), steps=steps, y=y, sampler='ddim')
    out['conditional_w0_accuracy'] = (classify_digits(cond) == y).double().mean().item()
    out['fd_conditional_w0'] = fd_digits(cond, half)
    uncond = proc.sample(model, (len(y), 1, 8, 8), steps=steps, sampler='ddim')
    out['fd_unconditional'] = fd_digits(uncond, half)
    out['fd_real_vs_real'] = fd_digits_baseline()
    out['eval'] = f'{len(y)} samples per setting, DDIM {steps} steps, FD against {len(half)} real digits; real-vs-real: two halves of 898'
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}

def save(path, r, state_dict, info):
    ck = dict(format='difflab-pretrained-1', process=r['process'], model=r['model'], fit=r['fit'], info=info,
              state_dict={k: v.detach().half() if v.is_floating_point() else v for k, v in state_dict.items()})
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp'); torch.save(ck, tmp); tmp.replace(path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT / 'data' / 'ddpm_digits.pt'))
    ap.add_argument('--steps', type=int, default=None, help='training steps (default: the recipe)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--eval-only', action='store_true')
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    from difflab.ddpm import DDPM, load_pretrained
    from difflab.models import UNet
    from difflab.train import fit
    from difflab.data import digits
    if a.eval_only:
        proc, model = load_pretrained('ddpm_digits', path=a.out)
        print(json.dumps(evaluate(proc, model))); return
    r = DDPM.recipe_digits()
    if a.steps: r['fit']['steps'] = a.steps
    proc = DDPM(**r['process'])
    x, y = digits()
    torch.manual_seed(a.seed)
    model = UNet(**r['model'])
    c0, w0 = time.process_time(), time.perf_counter()
    ema, hist = fit(proc, model, x, labels=y, seed=a.seed, progress=False, threads=1, **r['fit'])
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    print(f"trained {r['fit']['steps']} steps: {cpu:.0f} s CPU, {wall:.0f} s wall (1 thread); final loss {hist[-1]['loss']:.4f}", flush=True)
    info = dict(train_cpu_s=round(cpu, 1), train_steps=r['fit']['steps'], final_loss=round(hist[-1]['loss'], 4),
                command='python tools/train_digits.py', torch_version=str(torch.__version__))
    save(a.out, r, ema.state_dict(), info)          # first save, so that a failing evaluation loses nothing
    info.update(evaluate(proc, ema))
    print(json.dumps(info), flush=True)
    save(a.out, r, ema.state_dict(), info)

if __name__ == '__main__': main()
