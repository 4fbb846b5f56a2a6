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


# Table names that code spells through the models in f-strings.
TABLE_NAMES = {
    "Report._meta.db_table": "reports_report",
    "ReportEvent._meta.db_table": "reports_reportevent",
}


def _formatted(node: ast.JoinedStr) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(value.value)
        else:
            source = ast.unparse(value.value)
            parts.append(TABLE_NAMES.get(source, "{" + source + "}"))
    return "".join(parts)


def _strings(tree: ast.AST):
    """Every string constant; f-strings with the model table names spelled out."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield _formatted(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def _keyword_lists(node: ast.Call) -> set[str]:
    """Names in the call's list arguments (bulk_update's fields, save's update_fields)."""
    names = set()
    for value in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(value, ast.List | ast.Tuple):
            names |= {e.value for e in value.elts if isinstance(e, ast.Constant)}
    return names


def _call_writes(node: ast.Call, source: str):
    text = ast.get_source_segment(source, node.func) or ""
    about_reports = "report" in text.lower()
    keywords = {k.arg for k in node.keywords}
    method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    if method == "update" and "status" in keywords and about_reports:
        yield f"report update(status=...): {text}"
    if method in ("bulk_update", "save") and "status" in _keyword_lists(node) and about_reports:
        yield f"status saved: {text}"
    event_writes = ("create", "bulk_create", "get_or_create", "update", "update_or_create")
    if re.match(r"ReportEvent\.objects\.\w+$", text) and method in event_writes:
        yield f"events written through the ORM: {text}"
    if re.match(r"ReportEvent\.objects\..*\.(update|delete)$", text):
        yield f"events changed through the ORM: {text}"
    if re.match(r"Report\.objects\.(create|bulk_create|get_or_create|update_or_create)$", text):
        yield f"report created outside the workflow: {text}"
    if text == "ReportEvent":
        yield "an event built outside the workflow: ReportEvent(...)"


def _orm_writes(tree: ast.AST, source: str):
    """Calls and assignments that write report status or events through the ORM."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield from _call_writes(node, source)
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
        "sql model table": 'X = f"UPDATE {Report._meta.db_table} SET status = %s"',
        "sql insert": 'X = f"INSERT INTO reports_reportevent (report_id) VALUES ({1})"',
        "orm update": "Report.objects.filter(pk=1).update(status='closed')",
        "queryset update": "open_reports.update(status='closed')",
        "bulk update": "Report.objects.bulk_update(reports, ['status', 'updated_at'])",
        "save status": "report.save(update_fields=['status'])",
        "orm event": "ReportEvent.objects.bulk_create([])",
        "event built": "ReportEvent(report=r, kind='note').save()",
        "event update": "ReportEvent.objects.filter(pk=1).update(note='x')",
        "orm create": "Report.objects.create(status='new')",
        "get or create": "Report.objects.get_or_create(external_id='x')",
        "assignment": "assignment.report.status = 'new'",
    }
    for name, code in samples.items():
        tree = ast.parse(code)
        sql = [s for s in _strings(tree) if STATUS_UPDATE.search(s) or EVENT_INSERT.search(s)]
        assert sql or list(_orm_writes(tree, code)), name
    harmless = (
        'X = "UPDATE reports_report SET priority = 1"; plan.status = "done"\n'
        "RoutePlan.objects.filter(pk=1).update(status='running')\n"
        "ReportEvent.objects.filter(public=True).order_by('id')"
    )
    tree = ast.parse(harmless)
    assert not [s for s in _strings(tree) if STATUS_UPDATE.search(s)]
    assert not list(_orm_writes(tree, harmless))
