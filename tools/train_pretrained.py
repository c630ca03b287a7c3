"""Train, measure and release the pretrained entries of `difflab.pretrained` (weights + JSON cards).

    python tools/train_pretrained.py ddpm_moons               # retrain an entry from its card
    python tools/train_pretrained.py --all                    # every entry in --out
    python tools/train_pretrained.py ddpm_moons --eval-only   # measure the stored weights again
    python tools/train_pretrained.py NAME --resample sampler=dpm_solver reverse_steps=20
                                                              # same weights, other sampling
    python tools/train_pretrained.py NAME --config CONFIG [key=value ...] --describe TEXT
                                                              # a new entry from a config
    python tools/train_pretrained.py ddpm_digits --convert-legacy data/ddpm_digits.pt
                                                              # the pre-card digits file, as it is

An entry is trained through the experiment layer (`difflab.experiment.train`, as `difflab train`
does), stored (float16 weights), measured from the stored file with its card's metric recipe, and
released: weights, then card, written atomically into --out (default data/pretrained). The numbers
are printed, one JSON line per entry. `key=value` items override the config (`steps=3000`,
`process_args.alpha=1.5`), as on the `difflab train` command line.
"""

import argparse
import dataclasses
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
MAX_ENTRY_BYTES = 2_000_000  # a shipped entry stays under 2 MB
LEGACY_METRICS = {  # tools/train_digits.py's names -> the card's
    'guided_w2_accuracy': 'guided_accuracy',
    'fd_guided_w2': 'fd_guided',
    'conditional_w0_accuracy': 'conditional_accuracy',
    'fd_conditional_w0': 'fd_conditional',
    'fd_unconditional': 'fd_unconditional',
}


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('items', nargs='*', help='entry names, then key=value config overrides')
    ap.add_argument('--all', action='store_true', help='every entry in --out')
    ap.add_argument('--config', help='new entry: a config name in configs/ or a .yaml path')
    ap.add_argument('--describe', help="the card's description (default: the old card's)")
    ap.add_argument('--nll-args', help='JSON keyword arguments of process.nll in the metrics')
    ap.add_argument('--steps', type=int, help='training steps (overrides the config)')
    ap.add_argument('--out', default=str(ROOT / 'data' / 'pretrained'), help='entries folder')
    ap.add_argument('--eval-only', action='store_true', help='measure the stored weights again')
    ap.add_argument('--resample', action='store_true',
                    help='release an entry again with other sampling settings, weights kept')
    ap.add_argument('--convert-legacy', metavar='PATH', help='a difflab-pretrained-1 digits file')
    ap.add_argument('--dtype', default='float16', choices=('float16', 'float32'))
    ap.add_argument('--progress', action='store_true', help='show the training progress bar')
    args = ap.parse_intermixed_args(argv)
    args.names = [item for item in args.items if '=' not in item]
    args.overrides = [item for item in args.items if '=' in item]
    return args


def command_of(name, args) -> str:
    "The command line that makes entry `name` again, as recorded in its card."
    words = [name]
    if args.config:
        words += ['--config', args.config]
    words += args.overrides
    if args.steps:
        words += ['--steps', str(args.steps)]
    if args.describe and args.config:
        words += ['--describe', args.describe]
    if args.nll_args:
        words += ['--nll-args', args.nll_args]
    return 'python tools/train_pretrained.py ' + shlex.join(words)


def release(card, process, model, out, dtype, untrained=True) -> dict:
    "Store, measure from the stored file, then write weights and card into `out`; returns the card."
    from difflab import pretrained as P

    with tempfile.TemporaryDirectory() as stage:
        staged = P.write_entry(stage, card, model, process, dtype)
        process, model, staged = P.load(card['name'], root=stage)
        recipe = staged['evaluation']['recipe']
        scores = P.evaluate(process, model, staged, untrained=untrained and recipe == 'toy2d')
    evaluation = {**staged['evaluation'], 'seconds': scores['seconds']}
    final = {**staged, 'metrics': scores['metrics'], 'baselines': scores['baselines'],
             'evaluation': evaluation}
    final = P.write_entry(out, final, model, process, dtype)
    if final['weights']['sha256'] != staged['weights']['sha256']:
        raise RuntimeError('the released weights differ from the measured ones')
    if final['weights']['bytes'] > MAX_ENTRY_BYTES:
        print(f"warning: {final['weights']['file']} is {final['weights']['bytes'] / 1e6:.2f} MB, "
              f"over the {MAX_ENTRY_BYTES / 1e6:.0f} MB a shipped entry may take", file=sys.stderr)
    return final


def train_entry(name, args) -> dict:
    "Train entry `name` from its card (or from --config) and release it."
    from difflab import pretrained as P
    from difflab.experiment import build_data, config_from_dict, load_config
    from difflab.experiment import apply_overrides

    out = Path(args.out)
    old = None if args.config else P.read_card(name, out)
    if args.config:
        cfg = load_config(args.config, args.overrides + [f'name={name}'])
    else:
        cfg = config_from_dict(apply_overrides(old['config'], args.overrides))
    if args.steps:
        cfg = dataclasses.replace(cfg, steps=args.steps, epochs=0.0)
    cfg = dataclasses.replace(cfg, name=name)
    x, y = build_data(cfg)
    classes = int(y.max()) + 1 if (y is not None and cfg.conditional) else None
    cpu = time.process_time()
    process, model, history, seconds = P.retrain(cfg, progress=args.progress)
    trained = dict(
        wall_seconds=round(seconds, 1),
        cpu_seconds=round(time.process_time() - cpu, 1),
        device=str(next(model.parameters()).device),
        threads=torch.get_num_threads(),
        final_loss=round(history[-1]['loss'], 5),
        torch=torch.__version__,
        date=time.strftime('%Y-%m-%d', time.gmtime()),
    )
    description = args.describe or (old or {}).get('description') or ''
    again = f'python tools/train_pretrained.py {name}'
    card = P.new_card(cfg, model, x.shape[1:], classes, description, command_of(name, args),
                      n_data=len(x), trained=trained, retrain=again)
    if old is not None:
        card['evaluation'] = {k: v for k, v in old['evaluation'].items() if k != 'seconds'}
    if args.nll_args:
        card['evaluation']['nll_args'] = json.loads(args.nll_args)
    return release(card, process, model, out, args.dtype)


def convert_legacy(name, args) -> dict:
    "Card the digits model of tools/train_digits.py (format difflab-pretrained-1), not retrained."
    from difflab import pretrained as P
    from difflab.ddpm import DDPM
    from difflab.experiment import build_data, build_model, build_process, config_from_dict

    path = Path(args.convert_legacy)
    ck = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(ck, dict) or ck.get('format') != 'difflab-pretrained-1':
        raise SystemExit(f'{path} is not a difflab-pretrained-1 file')

    def plain(d):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    fit, info = ck['fit'], ck['info']
    settings = DDPM.recipe_digits()['sample']  # what its recorded metrics were measured with
    implicit = ('in_ch', 'size', 'num_classes')  # build_model derives these from the data
    cfg = config_from_dict(dict(
        name=name, method='ddpm', dataset='digits', conditional=True, model='unet',
        model_args={k: v for k, v in plain(ck['model']).items() if k not in implicit},
        process_args=plain(ck['process']), steps=fit['steps'], batch_size=fit['batch_size'],
        lr=fit['lr'], ema=fit['ema'], warmup=fit['warmup'], label_dropout=fit['label_dropout'],
        seed=0, sampler=settings['sampler'], reverse_steps=settings['steps'],
        guidance=settings['guidance'], n_samples=900,
    ))
    x, y = build_data(cfg)
    classes = int(y.max()) + 1
    process, model = build_process(cfg), build_model(cfg, x.shape[1:], classes)
    model.load_state_dict({k: v.float() for k, v in ck['state_dict'].items()})  # strict: must fit
    recorded = {new: info[old] for old, new in LEGACY_METRICS.items()}
    trained = dict(cpu_seconds=info['train_cpu_s'], threads=1, device='cpu',
                   final_loss=info['final_loss'], torch=info['torch_version'])
    provenance = dict(
        converted_from=str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT)
        else str(path),
        converted_by='python tools/train_pretrained.py ' + shlex.join(
            [name, '--convert-legacy', str(args.convert_legacy)]),
        recorded_metrics=recorded,
        recorded_how=info['eval'] + '; measured on the float32 EMA weights before storage',
        recorded_note=(
            'the float16 copy draws slightly different samples; unconditional ones differ most '
            '(no label holds them), and FD-digits of 900 unconditional samples varies by about '
            '+-1 between sampling seeds'
        ),
        real_vs_real_fd=info['fd_real_vs_real'],
    )
    description = (
        'Class-conditional DDPM on the 8x8 digits (UNet, classifier-free guidance, label '
        'dropout 0.15): 1,000 steps, about four CPU minutes.'
    )
    card = P.new_card(cfg, model, x.shape[1:], classes, description, info['command'],
                      n_data=len(x), trained=trained, provenance=provenance,
                      retrain=f'python tools/train_pretrained.py {name}')
    card = release(card, process, model, Path(args.out), args.dtype)
    missed = P.mismatches(recorded, card['metrics'], card['evaluation']['tolerance'])
    print(json.dumps(dict(name=name, recorded=recorded, mismatched=missed)), flush=True)
    return card


SAMPLE_OVERRIDES = ('sampler', 'reverse_steps', 'guidance')


def resample(name, args) -> dict:
    """Release entry `name` again with other sampling settings, its weights kept.

    The card's config, `sample` settings and command take the `sampler=`, `reverse_steps=` and
    `guidance=` overrides (and --describe), and its metrics are measured again.
    """
    from difflab import pretrained as P
    from difflab.experiment import apply_overrides, config_from_dict, parse_override

    keys = [parse_override(item)[0] for item in args.overrides]
    if not keys or any(len(key) != 1 or key[0] not in SAMPLE_OVERRIDES for key in keys):
        allowed = ', '.join(f'{key}=' for key in SAMPLE_OVERRIDES)
        raise SystemExit(f'--resample takes sampling overrides only ({allowed})')
    process, model, card = P.load(name, root=args.out)
    cfg = config_from_dict(apply_overrides(card['config'], args.overrides))
    command = card['command']
    if cfg != P.config_of(card) or args.describe:  # else: measured again, command unchanged
        again = list(args.overrides) + (['--describe', args.describe] if args.describe else [])
        command += ' ' + shlex.join(again)
    card = {
        **card,
        'config': json.loads(json.dumps(dataclasses.asdict(cfg))),
        'sample': P.sample_settings(cfg),
        'command': command,
        'description': args.describe or card['description'],
    }
    kept = {k: v for k, v in card['evaluation'].items() if k != 'seconds'}
    card['evaluation'] = {**kept, 'how': P.default_evaluation(cfg)['how']}  # today's recipe
    return release(card, process, model, Path(args.out), args.dtype, untrained=False)


def eval_only(name, args) -> dict:
    "Measure the stored weights again and compare them with the card."
    from difflab import pretrained as P

    process, model, card = P.load(name, root=args.out)
    scores = P.evaluate(process, model, card)
    missed = P.mismatches(card['metrics'], scores['metrics'], card['evaluation']['tolerance'])
    print(json.dumps(dict(name=name, recorded=card['metrics'], measured=scores['metrics'],
                          mismatched=missed, seconds=scores['seconds'])), flush=True)
    return missed


def main(argv=None) -> int:
    args = parse(argv)
    torch.set_num_threads(1)
    from difflab import pretrained as P

    names = P.names(args.out) if args.all else args.names
    if not names:
        raise SystemExit('name an entry (or pass --all)')
    if args.config and len(names) != 1:
        raise SystemExit('--config makes one new entry: name exactly one')
    bad = 0
    for name in names:
        if args.eval_only:
            bad += bool(eval_only(name, args))
            continue
        if args.resample:
            card = resample(name, args)
        elif args.convert_legacy:
            card = convert_legacy(name, args)
        else:
            card = train_entry(name, args)
        shown = dict(name=name, file=card['weights']['file'], bytes=card['weights']['bytes'],
                     trained=card.get('trained'), metrics=card['metrics'],
                     gaussian_fit=card['baselines'].get('gaussian_fit'),
                     untrained=card['baselines'].get('untrained'))
        print(json.dumps(shown), flush=True)
    return 1 if bad else 0


if __name__ == '__main__':
    from difflab.train import CheckpointError

    try:
        sys.exit(main())
    except (ValueError, CheckpointError, OSError) as e:  # what the user can fix: one line
        print(f'train_pretrained: error: {e}', file=sys.stderr)
        sys.exit(2)
