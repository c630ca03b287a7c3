#!/usr/bin/env python
"""Write copies of lesson notebooks without the exercises' solutions, for handing out to students.

A solution is a hidden code cell whose first line after the nbdev directives is `# solution`
(see nbs/09_exercises.ipynb). Everything else, outputs included, is kept.

Usage: python tools/strip_solutions.py nbs/10_ddpm.ipynb [more notebooks] --out handout/
"""

import argparse
import json
from pathlib import Path


def _source(cell) -> str:
    src = cell.get('source', '')
    return ''.join(src) if isinstance(src, list) else src


def is_solution(cell) -> bool:
    "Whether `cell` is an exercise solution: a code cell whose first non-directive line is `# solution`."
    if cell.get('cell_type') != 'code':
        return False
    lines = [line.strip() for line in _source(cell).splitlines() if line.strip()]
    body = [line for line in lines if not line.startswith('#|')]
    return bool(body) and body[0].lower() == '# solution'


def strip(path: Path, out_dir: Path) -> int:
    "Write `path` without its solution cells into `out_dir`; returns how many cells were removed."
    nb = json.loads(path.read_text(encoding='utf-8'))
    kept = [cell for cell in nb['cells'] if not is_solution(cell)]
    removed = len(nb['cells']) - len(kept)
    nb['cells'] = kept
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return removed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='copy notebooks without exercise solutions')
    parser.add_argument('notebooks', nargs='+', type=Path, help='notebooks to copy')
    parser.add_argument('--out', type=Path, required=True, help='folder for the copies')
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            parser.exit(2, f'strip_solutions: no notebook at {path}\n')
        removed = strip(path, args.out)
        print(f'{path} -> {args.out / path.name}: {removed} solution cell(s) removed')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
