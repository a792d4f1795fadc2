"""The request body of ``POST /api/v2/query``: its shape as pydantic models.

Only the JSON shape is checked here (types, required fields, no unknown fields);
the names in it (metrics, dimensions, filters) are checked in ``validate.py``. Strict
mode: ``"10"`` is not a limit and ``"true"`` is not a boolean.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pagepulse.web.stats_api.errors import ApiError

DEFAULT_LIMIT = 10_000  # Plausible's default page size
MAX_LIMIT = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Pagination(_Strict):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0)


class Include(_Strict):
    total_rows: bool = False
    time_labels: bool = False
    imports: bool = False


class QueryRequest(_Strict):
    """A Plausible Stats API v2 query (the subset PagePulse supports)."""

    site_id: str = Field(min_length=1, max_length=253)
    metrics: list[str] = Field(min_length=1)
    # A range name ("7d") or [first day, last day]; checked in validate.py.
    date_range: str | list[str]
    dimensions: list[str] = []
    # [operator, dimension, [values...]]; checked in validate.py for good messages.
    filters: list[list[Any]] = []
    order_by: list[tuple[str, Literal["asc", "desc"]]] | None = None
    pagination: Pagination = Pagination()
    include: Include = Include()


def parse_request(body: bytes) -> QueryRequest:
    """The request, or an :class:`ApiError` naming the first bad field."""
    try:
        return QueryRequest.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(_message(exc.errors(include_url=False)[0])) from None


def _message(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    kind = error["type"]
    if kind == "json_invalid":
        return "#: the request body is not valid JSON"
    if not loc:
        return "#: the request body must be a JSON object"
    if loc[0] == "date_range":
        # The union's two failures say nothing useful alone; say what is expected.
        return '#/date_range: expected a range name such as "7d", or ["YYYY-MM-DD", "YYYY-MM-DD"]'
    if kind == "extra_forbidden":
        return f"#/{'/'.join(loc)}: unknown field"
    if kind == "missing":
        return f"#/{'/'.join(loc)}: required field missing"
    return f"#/{'/'.join(loc)}: {error['msg']}"
