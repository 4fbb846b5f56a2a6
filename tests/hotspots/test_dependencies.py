"""Dependencies point one way (DESIGN.md): geo_ops.hotspots imports neither fieldteams nor maps,
and fieldteams does not import maps (they read the hotspots, not the other way round)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_modules(package: Path):
    """(file, module) for every import in the package's Python files, migrations included."""
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.relative_to(REPO), alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path.relative_to(REPO), node.module


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("geo_ops/hotspots", ("fieldteams", "maps")), ("fieldteams", ("maps",))],
)
def test_no_upward_imports(package, forbidden):
    upward = [
        f"{path}: {module}"
        for path, module in imported_modules(REPO / package)
        if module.split(".")[0] in forbidden
    ]
    assert upward == []
