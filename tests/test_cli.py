"""End-to-end tests of the `difflab` command line (subprocesses, as a user runs it)."""
import fcntl, json, os, pty, re, select, struct, subprocess, sys, termios
from pathlib import Path
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / 'difflab')
ENV = dict(os.environ, OMP_NUM_THREADS='1')

def run(*args, cwd=None, timeout=300):
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout, env=ENV)

def cli(*args):
    "`difflab ...` in this process (no interpreter start-up): a `CompletedProcess` with its exit code and output."
    import contextlib, io
    from difflab.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main(list(args))
        except SystemExit as e: rc = e.code
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())

def one_line_error(r, *msgs):
    "Exit code 2, one line on stderr holding every `msgs`, no traceback."
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for m in msgs:
        assert m in r.stderr, (m, r.stderr)

def bar_lines(text):
    "What a CI log shows of a stream: carriage returns become lines too."
    return [line for line in re.split(r'[\r\n]+', text) if line.strip()]

def test_bad_input_one_line_exit_2(tmp_path):
    absent = 'cuda' if not torch.cuda.is_available() else f'cuda:{torch.cuda.device_count()}'
    for args, msgs in [(['train', '--config', 'no_such'], ["config 'no_such' not found"]),
                       # item 7: a device this machine lacks, a bad flag: one line from the real script
                       (['train', '--config', 'moons_ddpm', '--root', str(tmp_path), '--device', absent],
                        [f"device {absent!r} is not available", '--device cpu']),
                       (['train', '--steps'], ['difflab train: error: argument --steps: expected one argument'])]:
        one_line_error(run(*args), *msgs)
    for args, msgs in [(['train', '--config', 'moons_ddpm', 'bogus=1'], ["unknown config key 'bogus'"]),
                       (['train', '--config', 'moons_ddpm', 'steps=abc'], ['steps must be int']),
                       (['train', '--config', 'moons_ddpm', 'process_args.T=0'], ['T must be']),
                       (['eval', '--name', 'nothing_here', '--root', str(tmp_path)], ['no run at']),
                       (['train', '--config', 'moons_ddpm', '--method', 'dlpm', '--root', str(tmp_path)],
                        ["process_args.schedule (from moons_ddpm.yaml, written for method 'ddpm')", 'process_args={}']),
                       (['train', '--no-such-flag'], ['unrecognized arguments: --no-such-flag']),
                       (['demo', 'steps=5'], ['unrecognized arguments: steps=5']),
                       (['sample', '--out', '/nonexistent/dir/s.pt'], ['--out /nonexistent/dir/s.pt: folder /nonexistent/dir does not exist']),
                       # item 4: short grid names that are unknown or ambiguous name the valid keys
                       (['sweep', '--config', 'sas_grid_dlpm', '--root', str(tmp_path), '--grid', 'alhpa=1.5,1.9'],
                        ["unknown grid key 'alhpa'", 'steps,', 'process_args.X (DLPM): alpha, T']),
                       (['sweep', '--config', 'moons_ddpm', '--method', 'infodiff', 'process_args={}', '--root', str(tmp_path),
                         '--grid', 'clip=1,2'], ["grid key 'clip' is ambiguous", 'process_args.clip'])]:
        one_line_error(cli(*args), *msgs)
    assert not any(tmp_path.iterdir())                               # nothing was started

def test_help_names_every_flag():
    from difflab.cli import make_parser
    helps = {cmd: p.format_help() for cmd, p in make_parser()._subparsers._group_actions[0].choices.items()}
    assert set(helps) == {'train', 'sample', 'eval', 'display', 'genseq', 'sweep', 'demo', 'app', 'bench'}
    for cmd, text in helps.items():
        assert 'FLAG_' not in text, text
        flags = re.findall(r'^  (--[\w-]+)(.*)$', text, re.M)
        assert flags and all(rest.strip() for _, rest in flags), (cmd, flags)   # every flag says what it does
    r = run('eval', '--help')
    assert r.returncode == 0 and '--generate N' in r.stdout and '--alpha' not in r.stdout, r.stdout
    for used in ('--generate', '--reverse_steps', '--sampler', '--guidance', '--seed', '--device', '--name'):
        assert used in helps['eval']
    for unused in ('--alpha', '--steps', '--method', '--epochs', '--dataset', '--check', '--logger'):
        for cmd in ('eval', 'display', 'sample', 'genseq'):
            assert unused not in helps[cmd], (cmd, unused)
    assert 'alpha=1.5,1.9' in helps['sweep']

@pytest.fixture(scope='module')
def moons(tmp_path_factory):
    "A small DDPM run on moons, trained through a pipe with progress on: `(root, base args, completed train)`."
    root = tmp_path_factory.mktemp('cli')
    base = ['--config', 'moons_ddpm', '--root', str(root), '--name', 'm']
    r = run('train', *base, 'steps=300', 'check_every=100', 'log_every=5', 'n_samples=500', 'process_args.T=200')
    assert r.returncode == 0, r.stderr
    return root, base, r

def test_train_says_what_it_does_and_logs_a_few_lines(moons):
    root, base, r = moons
    first, last = r.stdout.strip().splitlines()[0], r.stdout.strip().splitlines()[-1]
    assert first == f"training ddpm on moons for 300 steps into {root / 'm'} (config moons_ddpm)", first
    assert 'examples/s' in last
    lines = bar_lines(r.stderr)                                      # 60 log points, stderr is a pipe
    assert 1 <= len(lines) <= 4 and lines[-1].startswith('DDPM: step 300/300 (100%), loss '), lines

def test_train_without_config_says_so(tmp_path):
    r = run('train', 'steps=20', 'n_data=500', 'batch_size=64', 'process_args.T=20', '--no-progress', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == ('training ddpm on moons for 20 steps into runs/run '
                                        '(no --config: the built-in defaults)'), r.stdout
    assert r.stderr == ''

def test_train_resume_eval_display_sample(moons, tmp_path):
    root, base, _ = moons
    d = root / 'm'
    assert (d / 'config.yaml').exists() and (d / 'checkpoints' / 'latest.pt').exists() and (d / 'metrics.jsonl').exists()
    r = cli('train', *base, 'steps=300', '--no-progress')            # refused: the run exists
    assert r.returncode == 2 and 'already exists' in r.stderr
    r = run('eval', *base)
    assert r.returncode == 0, r.stderr
    ev = json.loads((d / 'eval.json').read_text())
    assert ev['finite_fraction'] == 1.0 and ev['nll_nats'] is not None
    assert (ev['n_samples'], ev['sampler'], ev['reverse_steps'], ev['sample_seed']) == (500, 'ancestral', 200, 1)
    from difflab.data import toy2d                                   # baseline: a Gaussian fitted to the data
    from difflab.metrics import sliced_wasserstein
    data, fresh = toy2d('moons', 8000, seed=0), toy2d('moons', 1000, seed=1000)
    gauss = torch.distributions.MultivariateNormal(data.mean(0), torch.cov(data.T)).sample((500,))
    assert ev['swd'] < 0.7 * float(sliced_wasserstein(gauss, fresh)), ev
    r = cli('display', *base, '--generate', '300')
    assert r.returncode == 0 and (d / 'samples' / 'display.png').stat().st_size > 5000, r.stderr
    r = cli('sample', *base, '--generate', '123', '--out', str(tmp_path / 's.pt'))
    assert r.returncode == 0, r.stderr
    assert torch.load(tmp_path / 's.pt').shape == (123, 2)
    r = run('train', *base, 'steps=340', 'check_every=100', 'process_args.T=200', '--resume', '--no-progress')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('resuming ddpm on moons for 340 steps')
    assert json.loads((d / 'metrics.jsonl').read_text().splitlines()[-1])['step'] == 340

def test_eval_applies_sampling_options_and_refuses_training_ones(moons):
    root, base, _ = moons
    d = root / 'm'
    a = json.loads(run('eval', *base, '--generate', '400', '--reverse_steps', '50', '--sampler', 'ddim', '--seed', '5').stdout)
    assert (a['n_samples'], a['reverse_steps'], a['sampler'], a['sample_seed']) == (400, 50, 'ddim', 5), a
    assert json.loads((d / 'eval.json').read_text()) == a            # eval.json records what was used
    b = json.loads(cli('eval', *base, 'n_samples=400', 'reverse_steps=50', 'sampler=ddim', 'seed=5').stdout)
    assert b['swd'] == a['swd']                                      # the same options, the same samples
    c = json.loads(cli('eval', *base, 'n_samples=400', 'reverse_steps=50', 'sampler=ddim', 'seed=6').stdout)
    assert c['swd'] != a['swd'] and c['sample_seed'] == 6
    for cmd in ('eval', 'display', 'sample', 'genseq'):
        one_line_error(cli(cmd, *base, '--alpha', '1.2', 'lr=0.1'), '--alpha 1.2 (process_args.alpha was not set)',
                       'lr=0.1 (lr was 0.005)', 'fixed when the network was trained', '--generate, --reverse_steps')
    one_line_error(run('display', *base, '--steps', '10'), '--steps 10 (steps was ')
    one_line_error(cli('eval', *base, '--guidance', '2'), 'needs a class-conditional run')
    one_line_error(cli('eval', *base, '--sampler', 'dlim'), "sampler must be '' (the default, 'ancestral')")
    one_line_error(cli('eval', *base, 'bogus=1'), 'bogus=1: not a config key')
    one_line_error(cli('display', *base, '--out', '/nonexistent/dir/d.png'), 'folder /nonexistent/dir does not exist')
    one_line_error(cli('genseq', *base, '--out', '/nonexistent/dir'), '--out /nonexistent/dir: not an existing folder')
    one_line_error(run('sample', *base, '--out', '/nonexistent/dir/s.pt'), '--out /nonexistent/dir/s.pt',
                   'folder /nonexistent/dir does not exist')

def test_genseq_saves_the_reverse_chain(moons, tmp_path):
    root, base, _ = moons
    r = run('genseq', *base, '--generate', '500', '--frames', '10', '--out', str(tmp_path))
    assert r.returncode == 0, r.stderr
    chain = torch.load(tmp_path / 'chain.pt')
    assert chain.shape == (201, 500, 2)                              # T = 200 steps: the prior and 200 states
    from PIL import Image
    gif = Image.open(tmp_path / 'chain.gif')
    assert gif.n_frames == 10 and Image.open(tmp_path / 'chain.png').size[0] > 600
    ev = json.loads(cli('eval', *base, '--generate', '500').stdout)  # the same options: the chain ends at eval's samples
    assert torch.equal(chain[-1], torch.load(root / 'm' / 'samples' / 'eval_samples.pt'))
    from difflab.data import toy2d
    from difflab.metrics import sliced_wasserstein
    fresh = toy2d('moons', 1000, seed=1000)
    assert abs(float(chain[0].std()) - 1) < 0.1                      # the chain starts at the N(0, I) prior ...
    assert float(sliced_wasserstein(chain[-1], fresh)) < 0.5 * float(sliced_wasserstein(chain[0], fresh)), ev

def test_genseq_images(tmp_path):
    "The image path of genseq on an untrained digits network written by hand (no training needed to check shapes)."
    from difflab.experiment import load_config, save_config, build_model, run_dir
    from difflab.train import save_checkpoint
    cfg = load_config('digits_ddpm', [f'root={tmp_path}', 'name=dg', 'process_args.T=10', 'model_args={preset: digits, ch: 8}'])
    (run_dir(cfg) / 'checkpoints').mkdir(parents=True)
    (run_dir(cfg) / 'samples').mkdir()
    save_config(cfg, run_dir(cfg) / 'config.yaml')
    net = build_model(cfg, (1, 8, 8), 10)
    save_checkpoint(run_dir(cfg) / 'checkpoints' / 'latest.pt', net, net)
    r = run('genseq', '--name', 'dg', '--root', str(tmp_path), '--frames', '5', '--strip', '3')
    assert r.returncode == 0, r.stderr
    assert torch.load(run_dir(cfg) / 'samples' / 'chain.pt').shape == (11, 16, 1, 8, 8)
    from PIL import Image
    assert Image.open(run_dir(cfg) / 'samples' / 'chain.gif').n_frames == 5

def test_sampling_progress_on_a_terminal_only(moons):
    root, base, _ = moons
    args = ['display', *base, '--reverse_steps', '30', '--generate', '200']
    r = run(*args)                                                   # a pipe: no progress at all
    assert r.returncode == 0 and r.stderr == '', r.stderr
    master, slave = pty.openpty()                                    # a terminal: a bar of the sampling steps
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))   # 100 columns wide
    p = subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=slave, env=ENV, cwd=ROOT)
    os.close(slave)
    seen = b''
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready: break
        try: chunk = os.read(master, 4096)
        except OSError: break
        if not chunk: break
        seen += chunk
    p.communicate(timeout=120)
    os.close(master)
    assert p.returncode == 0, seen
    assert b'sampling (ancestral)' in seen and b'30/30' in seen, seen

def test_method_switch_takes_the_new_default_sampler(tmp_path):
    base = ['--config', 'moons_ddpm', '--method', 'dlpm', '--root', str(tmp_path), '--name', 'd']
    r = run('train', *base, 'process_args={T: 20}', 'steps=30', 'n_data=1000', 'batch_size=128', '--no-progress')
    assert r.returncode == 0, r.stderr
    r = run('eval', '--name', 'd', '--root', str(tmp_path), '--generate', '200')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)['sampler'] == 'dlpm'

def test_sweep_and_index(tmp_path):
    base = ['--config', 'moons_ddpm', '--root', str(tmp_path), '--name', 'sw', 'steps=60', 'n_samples=500', 'n_data=2000', 'process_args.T=20']
    r = run('sweep', *base, '--grid', 'seed=0,1', '--index', '1')
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'sw_seed=1' / 'eval.json').exists() and not (tmp_path / 'sw_seed=0').exists()
    r = run('sweep', *base, '--grid', 'seed=0,1')
    assert r.returncode == 0, r.stderr
    assert '(1 train, 1 reuse)' in r.stdout, r.stdout
    md = (tmp_path / 'sw' / 'sweep.md').read_text()
    assert md.count('\n') == 4 and 'swd' in md
    assert (tmp_path / 'sw' / 'sweep.csv').exists() and (tmp_path / 'sw' / 'sweep.png').exists()
    r = run('sweep', *base, '--grid', 'seed=0,1', '--index', '5')
    assert r.returncode == 2 and '--index must be in [0, 1]' in r.stderr

def test_sweep_reruns_changed_points_only_when_told(tmp_path):
    base = ['--config', 'moons_ddpm', '--root', str(tmp_path), '--name', 'st', 'n_samples=300', 'n_data=2000',
            'process_args.T=20', 'log_every=10']
    steps = lambda: json.loads((tmp_path / 'st_seed=0' / 'metrics.jsonl').read_text().splitlines()[-1])['step']
    evals = lambda: json.loads((tmp_path / 'st_seed=0' / 'eval.json').read_text())
    assert run('sweep', *base, '--steps', '60', '--grid', 'seed=0').returncode == 0
    one_line_error(run('sweep', *base, '--steps', '120', '--grid', 'seed=0'),   # stale results are not reported
                   'was run with another config (steps=60 -> 120)', '--resume', '--overwrite')
    r = cli('sweep', *base, '--steps', '120', '--grid', 'seed=0', '--resume')
    assert r.returncode == 0 and '(1 resume)' in r.stdout, r.stderr
    assert steps() == 120 and evals()['n_samples'] == 300
    r = cli('sweep', *base, '--steps', '120', '--generate', '200', '--grid', 'seed=0')   # sampling only: re-evaluate
    assert r.returncode == 0 and '(1 evaluate)' in r.stdout, r.stderr
    assert evals()['n_samples'] == 200 and steps() == 120
    r = cli('sweep', *base, '--steps', '120', '--generate', '200', '--grid', 'seed=0')
    assert r.returncode == 0 and '(1 reuse)' in r.stdout, r.stderr
    r = cli('sweep', *base, '--steps', '60', '--generate', '200', '--grid', 'seed=0', '--overwrite')
    assert r.returncode == 0 and '(1 retrain)' in r.stdout, r.stderr
    assert steps() == 60

def test_sweep_help_example_short_names(tmp_path):
    "The help's example: `--grid alpha=1.5,1.9` is short for process_args.alpha."
    r = run('sweep', '--config', 'sas_grid_dlpm', '--root', str(tmp_path), 'steps=30', 'n_samples=300', 'n_data=1000',
            'process_args.T=20', 'batch_size=128', '--no-progress', '--grid', 'alpha=1.5,1.9')
    assert r.returncode == 0, r.stderr
    for a in ('1.5', '1.9'):
        cfg = (tmp_path / f'sas_grid_dlpm_alpha={a}' / 'config.yaml').read_text()
        assert f'alpha: {a}' in cfg.split('process_args:')[1].split('model:')[0], cfg
    assert '| alpha |' in (tmp_path / 'sas_grid_dlpm' / 'sweep.md').read_text()

def test_reflected_digits_train_in_the_box_sample_in_pixels(tmp_path):
    "Reflected diffusion trains on the digits moved into [0, 1]; `sample` gives pixels in [-1, 1] back."
    r = run('train', '--config', 'digits_ddpm', 'method=reflected', 'process_args={}', 'sampler=', 'steps=2',
            'model_args={preset: digits, ch: 8}', '--root', str(tmp_path), '--name', 'rd')
    assert r.returncode == 0, r.stderr
    out = tmp_path / 's.pt'
    r = run('sample', '--name', 'rd', '--root', str(tmp_path), 'n_samples=8', 'reverse_steps=5', '--out', str(out))
    assert r.returncode == 0, r.stderr
    pixels = torch.load(out)
    assert pixels.shape == (8, 1, 8, 8)
    # the box [0, 1] is mapped back by 2u - 1: a sample left in the box would never go below 0
    assert float(pixels.min()) < -0.5 and -1 <= float(pixels.min()) and float(pixels.max()) <= 1
