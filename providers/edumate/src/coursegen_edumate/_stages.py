"""The two vendor jobs of an assessment from a PDF, carried as one job id.

Stage one chunks the document into a collection (`POST /chunking`); stage two generates
from it (`POST /chat`). What stage two needs (the topic, the Bloom mix, extra query
parameters, and once answered the chunking job and its collection) is a `Plan`, written
into stage one's job id (`chunking:` and base64 JSON), so that a token of stage one
resumes in any process. The upload's request carries its plan to `read_submitted` in
`httpx.Request.extensions`, which are never sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import attrs

from coursegen.wire import request_of

if TYPE_CHECKING:
    import httpx

__all__ = ["CHUNKING_PREFIX", "PLAN_KEY", "Plan", "decode_plan", "encode_plan", "plan_of"]

CHUNKING_PREFIX: Final = "chunking:"
STAGE_VERSION: Final = 1
PLAN_KEY: Final = "coursegen_edumate.plan"
"""The `httpx.Request.extensions` key carrying an upload's plan to `read_submitted`.

Extensions are never sent: the plan stays on our side of the wire."""


def _frozen_params(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Plan:
    """What stage two of a PDF job needs, carried by stage one's job id.

    `job` is the chunking job's id and `collection` the collection its create answer
    named; both are None until the upload is answered.
    """

    query: str
    blooms: str | None
    params: Mapping[str, str | None] = attrs.field(factory=dict, converter=_frozen_params)
    job: str | None = None
    collection: str | None = None


def plan_of(response: httpx.Response) -> Plan | None:
    """The plan an upload request carried, if `response` answers one."""
    request = request_of(response)
    plan = None if request is None else request.extensions.get(PLAN_KEY)
    return plan if isinstance(plan, Plan) else None


def encode_plan(plan: Plan) -> str:
    payload = {
        "v": STAGE_VERSION,
        "job": plan.job,
        "collection": plan.collection,
        "query": plan.query,
        "blooms": plan.blooms,
        "params": dict(plan.params),
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return CHUNKING_PREFIX + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_plan(job_id: str) -> Plan:
    """The plan of a stage-one job id; `ValueError` saying what is wrong with it."""
    body = job_id.removeprefix(CHUNKING_PREFIX)
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64-encoded JSON") from exc
    if not isinstance(data, dict) or data.get("v") != STAGE_VERSION:
        raise ValueError("an unknown version")
    job, query, blooms = data.get("job"), data.get("query"), data.get("blooms")
    collection, params = data.get("collection"), data.get("params", {})
    if not isinstance(job, str) or not job or not isinstance(query, str):
        raise ValueError("no job or query")
    if blooms is not None and not isinstance(blooms, str):
        raise ValueError("blooms is not text")
    if collection is not None and not isinstance(collection, str):
        raise ValueError("collection is not text")
    if not isinstance(params, dict) or not all(
        isinstance(value, str | None) for value in params.values()
    ):
        raise ValueError("params are not text")
    return Plan(query=query, blooms=blooms, params=params, job=job, collection=collection)
