"""SQL that parses the staged text without ever raising: one bad value cannot abort the import.

Numbers and ISO 8601 timestamps, guarded by patterns that admit only what PostgreSQL's own input
functions accept, so that the casts behind them cannot fail; NULL for anything else, which the
checks then name in the row's reason.
"""

# Surrounding spaces allowed in the patterns, so the raw column can be tested without btrim()
# (which costs more than the pattern when repeated in every reference); float8 and timestamptz
# input ignore them too.
_NUMBER_RE = r"^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,2})? *$"
_DECIMAL_RE = r"^-?[0-9]+\.[0-9]+$"
NON_FINITE_RE = r"^[+-]?(nan|inf|infinity)$"
# ISO 8601: a date, optionally a time (T or space, minutes, seconds, fraction) with an optional
# offset (Z, +03, +03:00, +0300). Fields are range-checked in the pattern itself; only the day of
# the month needs arithmetic. Tested with `~`, not regexp_match(): extracting the groups made
# PostgreSQL ten times slower (20 us a value).
_TIMESTAMP_RE = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r" ?(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)?)? *$"
)


# Every valid date (1900-2099), time of day and UTC offset as text, with its value: fixed data,
# made by migration reports 0006 (see timestamp_sql).
PARSE_TABLES = {
    "dates": "reports_parse_date",
    "times": "reports_parse_time",
    "offsets": "reports_parse_offset",
}


def number_sql(text: str) -> str:
    """float8 of a text, or NULL when it is not a plain decimal number (never raises).

    The length and exponent limits keep every accepted value inside float8's range. The usual
    shape of a coordinate (`26.4351`, `-0.5`) is tried first with a simpler pattern, which
    PostgreSQL's regex engine runs in half the time of the full one (0.2 against 0.4 us a
    value; counted repetitions like {1,3} would make it slower, not faster).
    """
    return (
        f"CASE WHEN octet_length({text}) > 60 THEN NULL "
        f"WHEN {text} ~ '{_DECIMAL_RE}' OR {text} ~ '{_NUMBER_RE}' THEN {text}::float8 END"
    )


def timestamp_sql(text: str, lookup: str | None = None) -> str:
    """timestamptz of an ISO 8601 text, or NULL when it is not a real time (never raises).

    The pattern and the day-of-month check admit only what PostgreSQL's own parser accepts, so
    the cast behind them cannot abort the statement (2024-02-30 is NULL, not an error). A text
    without an offset is read in the session time zone, which the import sets to
    settings.TIME_ZONE. The fields sit at fixed places once leading spaces are gone; only a
    text that has some pays for btrim().

    lookup: the alias prefix of the three joined PARSE_TABLES that recognise
    the common shape `YYYY-MM-DD[T ]HH:MM:SS[offset]` by its parts: three hash probes instead of
    the pattern, which costs ~2 us a value (PostgreSQL's regex engine, ~70 ns a character) and
    was a third of the whole validation. Every other text takes the pattern.
    """

    def parse(t: str) -> str:
        year, month, day = (f"substr({t}, {i}, {n})::int" for i, n in ((1, 4), (6, 2), (9, 2)))
        leap = f"mod({year}, 4) = 0 AND (mod({year}, 100) <> 0 OR mod({year}, 400) = 0)"
        day_exists = (
            f"({day} <= 28 OR {day} <= CASE WHEN {month} = 2 THEN CASE WHEN {leap} THEN 29 "
            f"ELSE 28 END WHEN {month} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
        )
        return (
            f"CASE WHEN {t} ~ '{_TIMESTAMP_RE}' AND left({t}, 4) <> '0000' AND {day_exists} "
            f"THEN {t}::timestamptz END"
        )

    slow = f"CASE WHEN {text} LIKE ' %%' THEN {parse(f'btrim({text})')} ELSE {parse(text)} END"
    if lookup is None:
        return slow
    d, t, o = (f"{lookup}_{part}" for part in ("d", "t", "o"))
    return (
        f"CASE WHEN {d}.value IS NOT NULL AND {t}.value IS NOT NULL "
        f"AND ({o}.text IS NOT NULL OR octet_length({text}) = 19) "
        f"AND substr({text}, 11, 1) IN ('T', ' ') "
        f"THEN CASE WHEN {o}.text IS NULL THEN ({d}.value + {t}.value)::timestamptz "
        f"ELSE ({d}.value + {t}.value - {o}.value) AT TIME ZONE 'UTC' END "
        f"ELSE {slow} END"
    )


def timestamp_lookup_joins(text: str, lookup: str) -> str:
    """The LEFT JOINs that timestamp_sql(text, lookup) reads (date, time, offset parts)."""
    d, t, o = (f"{lookup}_{part}" for part in ("d", "t", "o"))
    return (
        f"LEFT JOIN {PARSE_TABLES['dates']} AS {d} ON {d}.text = left({text}, 10) "
        f"LEFT JOIN {PARSE_TABLES['times']} AS {t} ON {t}.text = substr({text}, 12, 8) "
        # Most texts end at the seconds: no probe for them (a NULL key matches nothing).
        f"LEFT JOIN {PARSE_TABLES['offsets']} AS {o} "
        f"ON {o}.text = CASE WHEN octet_length({text}) > 19 THEN substr({text}, 20) END"
    )


def char_length_at_most(text: str, limit: int | str) -> str:
    """SQL: the text has at most `limit` characters. Bytes first: counting the characters of
    UTF-8 text walks it character by character, while its length in bytes is stored, and a
    text of at most `limit` bytes has at most `limit` characters."""
    return f"(octet_length({text}) <= {limit} OR char_length({text}) <= {limit})"


def quoted(text: str, limit: int = 60) -> str:
    """SQL for a short quoted echo of an input value inside a reason."""
    return f"quote_literal(left({text}, {limit}))"
