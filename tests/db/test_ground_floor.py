"""geo_ops.db is the ground floor: it imports Django's database layer and nothing of the apps."""

import ast
from pathlib import Path

import geo_ops.db

ALLOWED_PREFIXES = ("django.db", "django.contrib.gis.db", "psycopg2", "geo_ops.db")
APP_PACKAGES = ("geo_ops", "layers", "fieldteams", "maps", "django")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_geo_ops_db_imports_no_app():
    folder = Path(geo_ops.db.__file__).parent
    offending = {
        f"{path.name}: {name}"
        for path in folder.glob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in APP_PACKAGES and not name.startswith(ALLOWED_PREFIXES)
    }
    assert not offending
