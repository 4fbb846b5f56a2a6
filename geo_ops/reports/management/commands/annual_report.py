"""Print the year's statistics as JSON, CSV or a bilingual Markdown table."""

import csv
import io
import json

from django.core.management.base import BaseCommand

from geo_ops.reports.statistics import annual_statistics


def _percent(rate: float) -> str:
    return f"{rate * 100:.0f} %"


def annual_markdown(stats: dict) -> str:
    """The figures laid out like the Amanah's press release: a row per category, both languages."""
    lines = [
        f"# 940 — {stats['year']}",
        "",
        f"Reports received / البلاغات المستقبلة: **{stats['received']:,}**; "
        f"closed / المغلقة: **{stats['closed']:,}** ({_percent(stats['closure_rate'])}); "
        f"processed / المعالجة: **{stats['processed']:,}** "
        f"({_percent(stats['processed'] / stats['received'] if stats['received'] else 0)})",
        "",
        "| التصنيف | category | البلاغات / reports | المغلقة / closed "
        "| نسبة الإغلاق / closure rate | median hours to close | SLA met |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in stats["by_category"]:
        median = row["median_resolution_hours"]
        lines.append(
            f"| {row['name_ar']} | {row['name_en']} | {row['received']:,} | {row['closed']:,} | "
            f"{_percent(row['closure_rate'])} | {median if median is not None else '-'} | "
            f"{_percent(row['sla_met_rate'])} |"
        )
    lines.append(
        f"| **المجموع** | **all** | **{stats['received']:,}** | **{stats['closed']:,}** | "
        f"**{_percent(stats['closure_rate'])}** | | |"
    )
    lines += ["", "| القناة / channel | reports | closed |", "|---|---:|---:|"]
    lines += [
        f"| {r['channel']} | {r['received']:,} | {r['closed']:,} |" for r in stats["by_channel"]
    ]
    lines += [
        "",
        "| البلدية الفرعية | branch municipality | reports | closed | closure rate |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['name_ar']} | {r['name_en']} | {r['received']:,} | {r['closed']:,} | "
        f"{_percent(r['closure_rate'])} |"
        for r in stats["by_branch"]
    ]
    return "\n".join(lines) + "\n"


def annual_csv(stats: dict) -> str:
    """One row per (dimension, key): totals, categories, channels and branches."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dimension", "code", "name_en", "name_ar", "received", "closed",
                     "closure_rate", "median_resolution_hours", "sla_met_rate"])  # fmt: skip
    writer.writerow(["all", "", "", "", stats["received"], stats["closed"], stats["closure_rate"]])
    for r in stats["by_category"]:
        writer.writerow(["category", r["code"], r["name_en"], r["name_ar"], r["received"],
                         r["closed"], r["closure_rate"], r["median_resolution_hours"],
                         r["sla_met_rate"]])  # fmt: skip
    for r in stats["by_channel"]:
        writer.writerow(["channel", r["channel"], "", "", r["received"], r["closed"]])
    for r in stats["by_branch"]:
        writer.writerow(["branch", r["code"], r["name_en"], r["name_ar"], r["received"],
                         r["closed"], r["closure_rate"]])  # fmt: skip
    return out.getvalue()


class Command(BaseCommand):
    help = (
        "The year's report statistics (received, closed, processed; per category, channel, branch)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--format", choices=["json", "csv", "md"], default="json")

    def handle(self, *args, **options):
        stats = annual_statistics(year=options["year"])
        if options["format"] == "json":
            self.stdout.write(json.dumps(stats, ensure_ascii=False, indent=2))
        elif options["format"] == "csv":
            self.stdout.write(annual_csv(stats), ending="")
        else:
            self.stdout.write(annual_markdown(stats), ending="")
