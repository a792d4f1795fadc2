"""The Stats API (``POST /api/v2/query``): Plausible's v2 query, answered by our query layer.

One request flows through these modules in order:

* ``access``: the bearer key, and the site it may read (401 / 404);
* ``request``: the JSON body's shape, as pydantic models;
* ``validate``: names and combinations, into a :class:`QuerySpec` (400 naming the field);
* ``execute``: the period, the query-layer calls, sorting, paging, the response body.

``vocabulary`` lists what can be asked: metrics, dimensions, and which dashboard widget
answers each breakdown. New numbers belong in ``pagepulse.query``, not here.
"""

from pagepulse.web.stats_api.access import authenticate, readable_site
from pagepulse.web.stats_api.errors import ApiError, api_error_response
from pagepulse.web.stats_api.execute import answer
from pagepulse.web.stats_api.request import QueryRequest, parse_request
from pagepulse.web.stats_api.validate import QuerySpec, validate

__all__ = [
    "ApiError",
    "QueryRequest",
    "QuerySpec",
    "answer",
    "api_error_response",
    "authenticate",
    "parse_request",
    "readable_site",
    "validate",
]
