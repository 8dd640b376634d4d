"""``python -m loyalty_stream.tools.compile_domain``: compile the domain core's modules with mypyc, next to their
sources (``make install`` runs it; see loyalty_stream/domain/_native.py).

The core is plain, fully typed Python; mypyc turns it into C extensions, about twice as fast
(docs/benchmarks.md). Without a C compiler the build fails, says so, and the plain Python runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from loyalty_stream.domain._native import HERE, MODULES, STAMP, compiled_files, sources_digest


def build() -> None:
    """Compile a copy of the package in a scratch directory (away from the project's pyproject.toml, which
    setuptools would read) and move the extensions next to their sources."""
    from mypyc.build import mypycify
    from setuptools import setup

    with tempfile.TemporaryDirectory(prefix="loyalty-mypyc-") as tmp:
        package = Path(tmp) / "loyalty_stream"
        shutil.copytree(HERE, package / "domain", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        (package / "__init__.py").write_text("")
        cwd = os.getcwd()
        os.chdir(tmp)  # mypyc names modules by their paths relative to the working directory
        try:
            modules = mypycify(
                [f"loyalty_stream/domain/{name}.py" for name in MODULES],
                group_name="loyalty_stream.domain._native",
                target_dir="c",
            )
            setup(
                name="loyalty-stream-domain-native",
                ext_modules=modules,
                script_args=["-q", "build_ext", "--inplace", "--build-temp", "build"],
            )
        finally:
            os.chdir(cwd)
        for built in (package / "domain").glob("*.so"):
            shutil.copy2(built, HERE / built.name)


@contextlib.contextmanager
def _output_to(log: IO[str]) -> Iterator[None]:
    """The compiler's chatter (setuptools and gcc write to the process's own stdout and stderr) into ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def main() -> int:
    if STAMP.exists() and STAMP.read_text().strip() == sources_digest() and compiled_files():
        print("domain core: compiled modules are current")
        return 0
    for path in compiled_files():
        path.unlink()
    STAMP.unlink(missing_ok=True)
    with tempfile.TemporaryFile(mode="w+") as log:
        try:
            with _output_to(log):
                build()
        except (SystemExit, Exception) as exc:  # setuptools reports a failed compile with SystemExit
            for path in compiled_files():
                path.unlink()
            log.seek(0)
            tail = "".join(log.readlines()[-20:])
            print(f"{tail}domain core: not compiled ({exc!r}); it runs as plain Python", file=sys.stderr)
            return 0
    STAMP.write_text(sources_digest() + "\n")
    print(f"domain core: {len(compiled_files())} compiled modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
