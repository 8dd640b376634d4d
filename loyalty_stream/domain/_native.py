"""The compiled domain core: which modules mypyc compiles (``python -m loyalty_stream.tools.compile_domain``, run by
``make install``), and the check that keeps a compiled module from outliving a change to its source.

Python imports a compiled module (``engine.cpython-311-….so``) before its ``.py``; an edit to the source would
then be ignored silently. The build writes a digest of the sources it compiled; when the sources no longer
match it, the compiled modules are removed at import and the plain Python runs (as it does wherever no C
compiler is at hand).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).parent
MODULES: Final = (
    "achievement",
    "calendar",
    "conditions",
    "engine",
    "events",
    "expressions",
    "ids",
    "member",
    "numbers",
    "outcomes",
    "progress",
    "streaks",
    "tally",
    "webhooks",
)
STAMP: Final = HERE / "_native.sources"


def sources_digest() -> str:
    digest = hashlib.sha256()
    for name in MODULES:
        digest.update((HERE / f"{name}.py").read_bytes())
    return digest.hexdigest()


def compiled_files() -> list[Path]:
    return sorted(p for p in HERE.glob("*.so") if p.name.split(".")[0] in (*MODULES, "_native__mypyc"))


def drop_stale() -> bool:
    """Remove compiled modules built from other sources; return whether compiled modules are in use."""
    files = compiled_files()
    if not files:
        return False
    if STAMP.exists() and STAMP.read_text().strip() == sources_digest():
        return True
    for path in files:
        path.unlink(missing_ok=True)
    STAMP.unlink(missing_ok=True)
    print("loyalty_stream.domain: compiled modules were older than their sources, removed them", file=sys.stderr)
    return False


COMPILED: Final = drop_stale()  # at import, before the package imports any compiled module
