#!/usr/bin/env python
"""A classroom on one `difflab app`: N simulated students in one headless chromium.

Starts `difflab app` on a free port of 127.0.0.1, opens one browser page per student (each page gets
its own kernel, as in a real class), waits until its explorers are drawn, then every student moves
the α slider or a schedule slider with the keyboard, waits for the new picture, thinks 0.5-1.5 s,
and again, for `--seconds`. Each move is timed from the key press to the new image in the page.
Reports the median and 90th percentile response, pages that stopped answering (lost kernels), and
the peak memory of the server with its kernels (the browser is not counted); stops the server by
its PID and checks that its kernels went with it.

Usage: python tools/classroom_load.py --students 10 --seconds 60 [--json report.json]
Needs the widgets extra, Debian's chromium and Playwright for Python (no `playwright install`).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']
IMAGES = {'alpha': 'img.difflab-alpha-image', 'schedules': 'img.difflab-schedules-image'}
ARM = """([img, key]) => {
  window.__lat = null; window.__t0 = null;
  const el = document.querySelector(img);
  const down = e => { if (window.__t0 === null && e.key === key) window.__t0 = performance.now(); };
  document.addEventListener('keydown', down, {capture: true});
  const obs = new MutationObserver(() => {
    obs.disconnect(); document.removeEventListener('keydown', down, {capture: true});
    el.decode().catch(() => {}).then(() => { window.__lat = performance.now() - window.__t0; });
  });
  obs.observe(el, {attributes: true, attributeFilter: ['src']});
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Memory(threading.Thread):
    "The peak RSS of a process and its descendants, sampled every half second."

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self):
        import psutil

        server = psutil.Process(self.pid)
        while not self.done.is_set():
            try:
                procs = [server] + server.children(recursive=True)
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.5)


async def student(browser, url: str, seed: int, start: float, seconds: float, out: dict):
    "One student: open the page, wait for the explorers, move sliders until the lesson ends."
    rng = random.Random(seed)
    await asyncio.sleep(start)
    context = await browser.new_context(viewport={'width': 1300, 'height': 950})
    page = await context.new_page()
    t0 = time.perf_counter()
    try:
        await page.goto(url, timeout=600_000)
        for img in IMAGES.values():
            await page.wait_for_selector(f'{img}[src^="blob:"]', timeout=600_000)
        out['open_s'] = time.perf_counter() - t0
        sliders = await page.evaluate("""() => [...document.querySelectorAll(
            '.difflab-schedules .widget-slider')].map(e => [...e.classList]
            .find(c => c.startsWith('difflab-schedules-'))).filter(c => c)""")
        end = time.time() + seconds
        while time.time() < end:
            if rng.random() < 0.5 or not sliders:
                slider, img = '.difflab-alpha-alpha', IMAGES['alpha']
            else:
                slider, img = '.' + rng.choice(sliders), IMAGES['schedules']
            key = rng.choice(['ArrowLeft', 'ArrowRight'])
            before = await page.get_attribute(img, 'src')
            await page.evaluate(ARM, [img, key])
            await page.focus(f'{slider} .noUi-handle')
            await page.keyboard.press(key)
            try:
                await page.wait_for_function('window.__lat !== null', timeout=60_000)
            except Exception:
                if await page.get_attribute(img, 'src') == before:  # at a slider's end: no change
                    continue
                raise
            out['latencies'].append(await page.evaluate('window.__lat') / 1000)
            await asyncio.sleep(rng.uniform(0.5, 1.5))
    except Exception as e:  # a page that stops answering: counted, not raised
        out['lost'] = f'{type(e).__name__}: {str(e)[:200]}'
    finally:
        await context.close()


async def lesson(url: str, students: int, seconds: float, arrive: float) -> list:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        outs = [dict(latencies=[], lost=None, open_s=None) for _ in range(students)]
        tasks = [student(browser, url, k, k * arrive, seconds, outs[k]) for k in range(students)]
        await asyncio.gather(*tasks)
        await browser.close()
    return outs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--students', type=int, default=10)
    ap.add_argument('--seconds', type=float, default=60.0, help='how long each student works')
    ap.add_argument('--arrive', type=float, default=0.5, help='seconds between two arrivals')
    ap.add_argument('--json', help='also write the report to this file')
    args = ap.parse_args()
    if args.students < 1 or args.seconds <= 0:
        sys.exit('classroom_load: --students must be >= 1 and --seconds > 0')
    tmp = Path(tempfile.mkdtemp(prefix='difflab-classroom-'))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / 'runtime'), OMP_NUM_THREADS='1',
               JUPYTER_CONFIG_DIR=str(tmp / 'config'), IPYTHONDIR=str(tmp / 'ipython'),
               JUPYTER_PLATFORM_DIRS='1')
    port = free_port()
    exe = str(Path(sys.executable).parent / 'difflab')
    log = open(tmp / 'app.log', 'w')
    server = subprocess.Popen([exe, 'app', f'--port={port}'], cwd=tmp, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    import psutil

    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                sys.exit(f'classroom_load: difflab app did not start (log: {tmp / "app.log"})')
            time.sleep(0.2)
    memory = Memory(server.pid)
    memory.start()
    load_before = os.getloadavg()
    try:
        t0 = time.perf_counter()
        outs = asyncio.run(lesson(f'http://127.0.0.1:{port}/', args.students, args.seconds,
                                  args.arrive))
        wall = time.perf_counter() - t0
        kernels = len(psutil.Process(server.pid).children(recursive=True))
    finally:
        memory.done.set()
        children = psutil.Process(server.pid).children(recursive=True)
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    time.sleep(1)
    left = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    lat = sorted(x for o in outs for x in o['latencies'])
    report = dict(
        students=args.students, seconds=args.seconds, cpus=os.cpu_count(),
        load_before=[round(v, 2) for v in load_before], wall_s=round(wall, 1), moves=len(lat),
        median_s=round(statistics.median(lat), 3) if lat else None,
        p90_s=round(lat[int(0.9 * (len(lat) - 1))], 3) if lat else None,
        max_s=round(lat[-1], 3) if lat else None,
        page_open_s=sorted(round(o['open_s'], 1) for o in outs if o['open_s'] is not None),
        kernels_lost=sum(o['lost'] is not None for o in outs),
        errors=[o['lost'] for o in outs if o['lost']],
        processes_at_end=kernels, processes_left_after_stop=left,
        peak_rss_mb=round(memory.peak / 2**20),
    )
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == '__main__':
    main()
