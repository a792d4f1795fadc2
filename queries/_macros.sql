-- _macros: helper macros every query connection defines once (the runner runs this
-- file when it opens a connection; it answers no question itself).
-- Parameters: (none)
-- Columns: (none)
--
-- Filters arrive as one bound STRUCT per dimension (see pagepulse/query/filters.py):
-- is_any (NULL = no "is" filter), is_none, contains_all (a list of OR-lists). A NULL
-- struct means "no filter on this dimension"; OR evaluates its right side only for
-- rows the left side did not decide, so an absent filter costs almost nothing.
CREATE TYPE dimension_filter AS
    STRUCT(is_any VARCHAR[], is_none VARCHAR[], contains_all VARCHAR[][]);

CREATE OR REPLACE MACRO matches_typed_filter(value, f) AS
    f IS NULL OR (
        (f.is_any IS NULL OR list_contains(f.is_any, value))
        AND NOT list_contains(f.is_none, value)
        AND coalesce(list_bool_and(list_transform(
            f.contains_all,
            lambda needles: list_bool_or(list_transform(needles, lambda needle: contains(value, needle)))
        )), true)
    );

-- The cast gives a NULL parameter (no filter) its type.
CREATE OR REPLACE MACRO matches_filter(value, f) AS matches_typed_filter(value, f::dimension_filter);

-- Plausible's roundings, in exact integer arithmetic (half up) so that a reference
-- implementation in Python gets the very same numbers.
CREATE OR REPLACE MACRO percent(part, whole) AS
    CASE WHEN whole = 0 THEN 0 ELSE (200 * part + whole) // (2 * whole) END;

CREATE OR REPLACE MACRO percent_1dp(part, whole) AS
    CASE WHEN whole = 0 THEN 0.0 ELSE ((2000 * part + whole) // (2 * whole)) / 10 END;

CREATE OR REPLACE MACRO ratio_2dp(part, whole) AS
    CASE WHEN whole = 0 THEN 0.0 ELSE ((200 * part + whole) // (2 * whole)) / 100 END;

CREATE OR REPLACE MACRO average_seconds(total_us, count) AS
    CASE WHEN count = 0 THEN 0 ELSE (total_us + count * 500000) // (count * 1000000) END;
