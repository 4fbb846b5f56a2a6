"""Lookup tables that the bulk import parses timestamps with (geo_ops/reports/bulk/parsing.py,
timestamp_sql): every valid date of 1900-2099, time of day and UTC offset, as text and value.

Fixed data, made once here instead of by every import (~0.3-0.4 s of a 1M-row import on this
2-core machine, with their ANALYZE). No model: nothing but that SQL reads them. Default
collation on purpose: the import joins them with text from the file, which has it too.
"""

from django.db import migrations

CREATE = """
CREATE TABLE reports_parse_date (text text PRIMARY KEY, value date NOT NULL);
INSERT INTO reports_parse_date
SELECT to_char(d, 'YYYY-MM-DD'), d::date
FROM generate_series(timestamp '1900-01-01', '2099-12-31', interval '1 day') AS d;

CREATE TABLE reports_parse_time (text text PRIMARY KEY, value interval NOT NULL);
INSERT INTO reports_parse_time
SELECT to_char(h, 'FM00') || ':' || to_char(m, 'FM00') || ':' || to_char(s, 'FM00'),
       make_interval(hours => h, mins => m, secs => s)
FROM generate_series(0, 23) AS h, generate_series(0, 59) AS m, generate_series(0, 59) AS s;

-- Z, +hh, +hh:mm and +hhmm up to 14 hours either way.
CREATE TABLE reports_parse_offset (text text PRIMARY KEY, value interval NOT NULL);
INSERT INTO reports_parse_offset
SELECT 'Z', interval '0'
UNION ALL
SELECT sign || to_char(h, 'FM00') || form.sep || to_char(m, 'FM00'),
       CASE sign WHEN '-' THEN -1 ELSE 1 END * make_interval(hours => h, mins => m)
FROM unnest(ARRAY['+', '-']) AS sign, generate_series(0, 14) AS h,
     generate_series(0, 59) AS m, unnest(ARRAY[':', '']) AS form(sep)
UNION ALL
SELECT sign || to_char(h, 'FM00'),
       CASE sign WHEN '-' THEN -1 ELSE 1 END * make_interval(hours => h)
FROM unnest(ARRAY['+', '-']) AS sign, generate_series(0, 14) AS h;

ANALYZE reports_parse_date, reports_parse_time, reports_parse_offset;
"""

DROP = "DROP TABLE reports_parse_date, reports_parse_time, reports_parse_offset;"


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0005_code_columns_collation_c"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
