#!/usr/bin/env python
"""Fetch the browser assets the docs site serves itself: MathJax, the Jupyter widgets HTML manager, Font Awesome 4.

This is an install step (like `pip install`), run once by `make docs`: it asks the npm registry for three pinned
tarballs through `npm pack`, checks each against its pinned sha512, and unpacks only the files the site needs into
`.venv/docs-assets/static/vendor/`. The docs build itself (`tools/build_docs.py`) then runs offline.
A second run finds the verified tarballs in the cache and downloads nothing.

    python tools/docs_assets.py            # fetch (if needed) and unpack
    python tools/docs_assets.py --check    # exit 1 if the assets are missing
"""
import base64, hashlib, shutil, subprocess, sys, tarfile, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / '.venv' / 'docs-assets'
STATIC = CACHE / 'static'            # added to Sphinx's html_static_path by docs/conf.py
VENDOR = STATIC / 'vendor'

# name, version, sha512 integrity (as in the registry's dist.integrity), destination, files to keep (prefixes in the tarball)
PACKAGES = [
    ('mathjax', '3.2.2', 'sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==',
     'mathjax', ['package/LICENSE', 'package/es5/tex-chtml.js', 'package/es5/output/chtml/fonts/woff-v2/',
                 'package/es5/input/tex/extensions/', 'package/es5/ui/', 'package/es5/a11y/', 'package/es5/sre/']),
    ('@jupyter-widgets/html-manager', '1.0.15',
     'sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==',
     'widgets', ['package/dist/embed.js', 'package/dist/embed.js.LICENSE.txt', 'package/LICENSE', 'package/dist/*.woff2',
                 'package/dist/*.woff', 'package/dist/*.ttf']),
    ('font-awesome', '4.7.0', 'sha512-U6kGnykA/6bFmg1M/oT9EkFeIYv7JlX3bozwQJWiiLz6L0w3F5vBVPxHlwyX/vtNq1ckcpRKOB9f2Qal/VtFpg==',
     'font-awesome', ['package/css/font-awesome.min.css', 'package/fonts/', 'package/README.md']),
]
# What the site needs to find (relative to VENDOR): checked by --check and by tools/build_docs.py
REQUIRED = ['mathjax/es5/tex-chtml.js', 'widgets/dist/embed.js', 'font-awesome/css/font-awesome.min.css']

def _tarball(name, version): return CACHE / 'tarballs' / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"

def _integrity(path):
    return 'sha512-' + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()

def _fetch(name, version, integrity):
    tgz = _tarball(name, version)
    if tgz.exists() and _integrity(tgz) == integrity: return tgz
    npm = shutil.which('npm')
    if npm is None:
        sys.exit("npm is needed once to fetch the docs assets (MathJax, widget manager, Font Awesome); "
                 "install Node.js/npm (Debian: apt-get install npm) and run `make docs` again")
    tgz.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([npm, 'pack', f'{name}@{version}', '--pack-destination', d, '--silent'],
                           capture_output=True, text=True)
        got = list(Path(d).glob('*.tgz'))
        if r.returncode != 0 or not got: sys.exit(f"npm pack {name}@{version} failed:\n{r.stdout}\n{r.stderr}")
        if _integrity(got[0]) != integrity: sys.exit(f"{name}@{version}: sha512 differs from the pinned one; refusing it")
        shutil.move(str(got[0]), tgz)
    return tgz

def _wanted(member, keep):
    for k in keep:
        if '*' in k:
            if Path(member).match(k): return True
        elif member == k or (k.endswith('/') and member.startswith(k)): return True
    return False

def install():
    for name, version, integrity, dest, keep in PACKAGES:
        tgz, out = _fetch(name, version, integrity), VENDOR / dest
        stamp = out / '.version'
        if stamp.exists() and stamp.read_text() == f'{name}@{version}': continue
        if out.exists(): shutil.rmtree(out)
        with tarfile.open(tgz) as tf:
            for m in tf.getmembers():
                if not m.isfile() or not _wanted(m.name, keep): continue
                rel = Path(m.name).relative_to('package')
                if '..' in rel.parts: continue
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tf.extractfile(m).read())
        stamp.write_text(f'{name}@{version}')
        print(f"docs assets: {name}@{version} -> {out.relative_to(ROOT)}")
    missing = [p for p in REQUIRED if not (VENDOR / p).exists()]
    if missing: sys.exit(f"docs assets incomplete: {missing}")

def check():
    missing = [p for p in REQUIRED if not (VENDOR / p).exists()]
    if missing: print(f"missing docs assets {missing}: run `python tools/docs_assets.py`"); return 1
    return 0

if __name__ == '__main__': sys.exit(check() if '--check' in sys.argv[1:] else install())
