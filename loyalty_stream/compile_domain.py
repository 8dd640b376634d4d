"""``python -m loyalty_stream.compile_domain``: compile the domain core's modules with mypyc, next to their
sources (``make install`` runs it; see loyalty_stream/domain/_native.py).

The core is plain, fully typed Python; mypyc turns it into C extensions, about twice as fast
(docs/benchmarks.md). Without a C compiler the build fails, says so, and the plain Python runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from loyalty_stream.domain._native import HERE, MODULES, STAMP, compiled_files, sources_digest


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    root = HERE.parent.parent
    with tempfile.TemporaryDirectory(prefix="loyalty-mypyc-") as tmp:
        cwd = os.getcwd()
        os.chdir(root)  # mypyc names modules by their paths relative to here
        try:
            modules = mypycify(
                [str(Path("loyalty_stream/domain") / f"{name}.py") for name in MODULES],
                group_name="loyalty_stream.domain._native",
                target_dir=str(Path(tmp) / "c"),
            )
            setup(
                name="loyalty-stream-domain-native",
                ext_modules=modules,
                script_args=["-q", "build_ext", "--inplace", "--build-temp", str(Path(tmp) / "build")],
            )
        finally:
            os.chdir(cwd)


def main() -> int:
    if STAMP.exists() and STAMP.read_text().strip() == sources_digest() and compiled_files():
        print("domain core: compiled modules are current")
        return 0
    for path in compiled_files():
        path.unlink()
    STAMP.unlink(missing_ok=True)
    try:
        build()
    except (SystemExit, Exception) as exc:  # setuptools reports a failed compile with SystemExit
        for path in compiled_files():
            path.unlink()
        print(f"domain core: not compiled ({exc!r}); it runs as plain Python", file=sys.stderr)
        return 0
    STAMP.write_text(sources_digest() + "\n")
    print(f"domain core: {len(compiled_files())} compiled modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
