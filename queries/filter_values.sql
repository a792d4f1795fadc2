-- filter_values: which of $values one dimension filter keeps. The scope builder
-- (pagepulse/query/scopes.py) asks this once per filtered dimension over the site's
-- distinct strings, then keeps rows by their string codes: the filter runs per
-- distinct value, never per row, and its meaning stays in the matches_filter macro.
-- Parameters: $values, $filter
-- Columns: i (0-based position in $values), keep
SELECT i, matches_filter($values[i + 1], $filter) AS keep
FROM range(len($values)) AS t(i)
