"""The import arrows run one way: tools → services → shared infrastructure → domain (docs/layout.md).

Imports are parsed, not run, so a function-level import counts as much as a top-level one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (package, layer): a module may import from lower layers and from its own package, nothing else.
LAYERS = {
    "loyalty_stream.domain": 0,
    "loyalty_stream.config": 1,
    "schemas": 1,
    "loyalty_stream.kafka": 2,
    "loyalty_stream.replicas": 3,
    "ingest_api": 4,
    "processors": 4,
    "webhook_sender": 4,
    "loyalty_stream.tools": 5,
}


def package_of(module: str) -> str | None:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    here = module_name(path, root)
    base = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def source_files() -> list[Path]:
    roots = {p.split(".")[0] for p in LAYERS}
    return sorted(f for r in roots for f in (ROOT / r).rglob("*.py"))


def violations(files: list[Path], root: Path = ROOT) -> list[str]:
    out = []
    for path in files:
        own = package_of(module_name(path, root))
        if own is None:
            continue
        for line, module in imports_of(path, root):
            target = package_of(module)
            if target is None or target == own:
                continue
            if LAYERS[target] >= LAYERS[own]:
                out.append(f"{path.relative_to(root)}:{line}: {own} (layer {LAYERS[own]}) imports {module}")
    return out


def test_every_source_module_belongs_to_a_layer() -> None:
    loose = [str(p.relative_to(ROOT)) for p in source_files() if package_of(module_name(p)) is None]
    assert loose == ["loyalty_stream/__init__.py"]


def test_imports_run_one_way() -> None:
    assert violations(source_files()) == []


@pytest.mark.parametrize(
    ("where", "statement"),
    [
        ("ingest_api/x.py", "from webhook_sender.destinations import make_client"),  # sideways: service → service
        ("loyalty_stream/domain/x.py", "from loyalty_stream.config.settings import Settings"),  # upwards
        ("loyalty_stream/kafka/x.py", "def f():\n    from processors.app import main\n"),  # upwards, inside a function
        ("processors/agents/x.py", "from ..app import Processor\nfrom ...ingest_api import app\n"),  # relative
    ],
)
def test_the_check_catches(tmp_path: Path, where: str, statement: str) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(statement)
    assert violations([path], tmp_path), statement


CITED = re.compile(r"(?<![\w/.-])((?:[A-Za-z_][\w-]*/)+[\w-]+\.(?:py|md|json|avsc|yaml|toml))\b")


def test_cited_files_exist() -> None:
    """Docstrings and comments cite files of the repository, and those files exist."""
    missing = [
        f"{path.relative_to(ROOT)}: {ref}"
        for path in source_files() + sorted((ROOT / "bench").rglob("*.py"))
        for ref in CITED.findall(path.read_text())
        if not (ROOT / ref).exists()
    ]
    assert missing == []
    assert CITED.findall("see docs/domain.md §2 and processors/app.py.") == ["docs/domain.md", "processors/app.py"]
