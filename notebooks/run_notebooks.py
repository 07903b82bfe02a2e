#!/usr/bin/env python3
"""Executes the demo notebooks headless against a demo output folder; exits non-zero if any cell fails.

    notebooks/.venv/bin/python notebooks/run_notebooks.py DEMO_DIR [--save OUT_DIR]

DEMO_DIR is the folder written by `imanifold demo --out DEMO_DIR` (or `--quick`). The interpreter needs
notebooks/requirements.txt and the imanifold Python package (`pip install ./crates/imanifold-py`), which the
notebooks call to recompute figures on the fly. Each notebook runs in a fresh kernel of this interpreter with
IMANIFOLD_DEMO_DIR=DEMO_DIR and the notebooks folder as working directory. The executed copies (with their outputs
and figures) are written to OUT_DIR (default: DEMO_DIR/notebooks); the notebooks in the repository are left
untouched.
"""

import argparse
import os
import pathlib
import sys
import time

NOTEBOOKS = [
    "01_intrinsic_dimension.ipynb",
    "02_flow_geodesics.ipynb",
    "03_off_manifold_and_fooling.ipynb",
    "04_stability.ipynb",
    "05_large_collections.ipynb",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo_dir", type=pathlib.Path, help="output folder of `imanifold demo`")
    parser.add_argument("--save", type=pathlib.Path, default=None, help="where to write the executed notebooks")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()

    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as e:
        print(f"error: {e}; install notebooks/requirements.txt into this interpreter ({sys.executable})",
              file=sys.stderr)
        return 2
    try:
        import imanifold  # noqa: F401  (the kernels import it; say so here once, before starting them)
    except ImportError as e:
        print(f"error: {e}; the notebooks call the imanifold Python package: install it into this interpreter "
              f"({sys.executable}) with `pip install ./crates/imanifold-py` from the repository root",
              file=sys.stderr)
        return 2

    demo = args.demo_dir.resolve()
    if not (demo / "results.json").is_file():
        print(f"error: {demo} has no results.json: run `imanifold demo --out {demo}` first", file=sys.stderr)
        return 2
    here = pathlib.Path(__file__).resolve().parent
    save = (args.save or demo / "notebooks").resolve()
    save.mkdir(parents=True, exist_ok=True)
    # The kernels inherit this environment: the demo folder, and a non-interactive matplotlib.
    os.environ["IMANIFOLD_DEMO_DIR"] = str(demo)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    failed = []
    for name in NOTEBOOKS:
        path = here / name
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(here)}})
        t = time.time()
        try:
            client.execute()
            status = "ok"
        except CellExecutionError as e:
            status = "FAILED"
            failed.append(name)
            print(f"{name}: a cell failed:\n{e}", file=sys.stderr)
        except Exception as e:  # kernel did not start, timeout, ...
            status = "FAILED"
            failed.append(name)
            print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr)
        out = save / name
        tmp = out.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, out)
        print(f"{name}: {status} ({time.time() - t:.1f} s) -> {out}")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
