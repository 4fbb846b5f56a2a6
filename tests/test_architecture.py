"""The report workflow is the one writer of a report's status and audit trail.

import-linter (pyproject.toml, `lint-imports` in `make test`) keeps the layers apart; what a
contract cannot see is a write in SQL or through the ORM. This reads every module of the product
(not tests/ nor bench/) and fails on any code outside geo_ops/reports/workflow/ that updates
`reports_report.status`, inserts into `reports_reportevent`, or does the same through the ORM.
"""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRODUCT = ("geo_ops", "layers", "fieldteams", "maps")
WORKFLOW = REPO / "geo_ops" / "reports" / "workflow"

STATUS_UPDATE = re.compile(
    r"UPDATE\s+reports_report\b(?:(?!;).)*?\bSET\b.*?\bstatus\s*=", re.I | re.S
)
EVENT_INSERT = re.compile(r"INSERT\s+INTO\s+reports_reportevent\b", re.I)


def _product_modules() -> list[Path]:
    files = [p for package in PRODUCT for p in (REPO / package).rglob("*.py")]
    return sorted(p for p in files if "migrations" not in p.parts and WORKFLOW not in p.parents)


def _strings(tree: ast.AST):
    """Every string constant, f-strings joined with a placeholder for their expressions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def _orm_writes(tree: ast.AST, source: str):
    """Calls and assignments that write report status or events through the ORM."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            text = ast.get_source_segment(source, node.func) or ""
            keywords = {k.arg for k in node.keywords}
            if node.func.attr == "update" and "status" in keywords and "Report" in text:
                yield f"Report update(status=...): {text}"
            if re.match(r"ReportEvent\.objects\.(create|bulk_create|get_or_create)$", text):
                yield f"event written through the ORM: {text}"
            if re.match(r"Report\.objects\.(create|bulk_create)$", text):
                yield f"report created outside the workflow: {text}"
        if isinstance(node, ast.Assign):
            for target in node.targets:
                text = ast.get_source_segment(source, target) or ""
                if re.fullmatch(r"[\w.]*report\.status", text):
                    yield f"status assigned: {text}"


@pytest.mark.parametrize("path", _product_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_status_or_event_write_outside_the_workflow(path):
    source = path.read_text()
    tree = ast.parse(source)
    found = [
        f"SQL: {s.strip()[:80]!r}"
        for s in _strings(tree)
        if STATUS_UPDATE.search(s) or EVENT_INSERT.search(s)
    ]
    found += list(_orm_writes(tree, source))
    assert not found, f"{path.relative_to(REPO)} writes report state outside the workflow"


def test_the_checks_find_what_they_look_for():
    """The patterns above catch each kind of write (so the test above can fail)."""
    samples = {
        "sql update": 'X = "UPDATE reports_report SET due_at = 1, status = %s WHERE id = 1"',
        "sql insert": 'X = f"INSERT INTO reports_reportevent (report_id) VALUES ({1})"',
        "orm update": "Report.objects.filter(pk=1).update(status='closed')",
        "orm event": "ReportEvent.objects.bulk_create([])",
        "orm create": "Report.objects.create(status='new')",
        "assignment": "assignment.report.status = 'new'",
    }
    for name, code in samples.items():
        tree = ast.parse(code)
        sql = [s for s in _strings(tree) if STATUS_UPDATE.search(s) or EVENT_INSERT.search(s)]
        assert sql or list(_orm_writes(tree, code)), name
    harmless = 'X = "UPDATE reports_report SET priority = 1"; plan.status = "done"'
    tree = ast.parse(harmless)
    assert not [s for s in _strings(tree) if STATUS_UPDATE.search(s)]
    assert not list(_orm_writes(tree, harmless))
