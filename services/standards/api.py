"""Standards board REST API (v1): the board, its CSV export, Info-Social rows, call reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from services.common.auth import Principal
from services.common.kafka import KafkaPublisher, Outgoing
from services.common.params import BoundedInstant
from services.common.problems import ProblemError, invalid_field
from services.contract.codes import ORG_ID_PATTERN, ServiceCode
from services.contract.infosocial_events import REGION_PATTERN
from services.standards.access import POLICY
from services.standards.api_models import BoardRowPublic, CallsAccepted, CallsReport, InfoSocialRowPublic
from services.standards.application import BoardFilter, BoardQueries, to_csv
from services.standards.bounds import Period
from services.standards.inbound import call_event
from services.standards.worker import SOURCE

router = APIRouter(prefix="/v1", tags=["standards"])

STANDARD_PATTERN = r"^[A-Z][A-Z0-9_]{0,39}$"
BoardPeriod = Literal["DAY", "MONTH"]
CallPeriod = Literal["HOUR", "DAY", "MONTH"]
NOT_READY: dict[int | str, dict[str, Any]] = {503: {"description": "The board is still being read from its topic"}}


def queries(request: Request) -> BoardQueries:
    board: BoardQueries = request.app.state.queries
    if not board.view.caught_up.is_set():
        raise ProblemError(503, "not-ready", "Not ready", "the board is still being read; try again")
    return board


def publisher(request: Request) -> KafkaPublisher:
    sink: KafkaPublisher = request.app.state.publisher
    return sink


def _period(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise invalid_field("to", "must be after from")


Org = Annotated[str | None, Query(pattern=ORG_ID_PATTERN)]
Standard = Annotated[str | None, Query(pattern=STANDARD_PATTERN)]
From = Annotated[BoundedInstant | None, Query(alias="from")]
To = Annotated[BoundedInstant | None, Query(alias="to")]
Board = Annotated[BoardQueries, Depends(queries)]


def board_filter(operation: str) -> Callable[..., BoardFilter]:
    """The caller's filter of the board: their own organisation unless they read the whole network."""

    caller = Depends(POLICY.caller(operation))

    def dependency(  # the caller is a default: annotations are text, read where `operation` is unknown
        principal: Principal = caller,
        org: Org = None,
        service: ServiceCode | None = None,
        standard: Standard = None,
        period: BoardPeriod = "MONTH",
        start: From = None,
        end: To = None,
    ) -> BoardFilter:
        _period(start, end)
        scope = org or POLICY.scope(operation, principal)
        POLICY.check(operation, principal, {"org": scope}, "an organisation reads only its own rows")
        return BoardFilter(scope, service.value if service else None, standard, Period(period), start, end)

    return dependency


@router.get("/board", response_model=list[BoardRowPublic], responses=NOT_READY)
def board(
    found: Annotated[BoardFilter, Depends(board_filter("board"))], rows: Board, request: Request
) -> list[BoardRowPublic]:
    """Per organisation × service × standard × day or month (buckets starting in [from, to); without `from`, the
    month holding `to` or today and the 12 before): met, breached, share."""
    return rows.board(found, request.app.state.today())


@router.get(
    "/board.csv",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}, **NOT_READY},
)
def board_csv(
    found: Annotated[BoardFilter, Depends(board_filter("board_csv"))], rows: Board, request: Request
) -> PlainTextResponse:
    """The same rows as `GET /v1/board` (without `from`, the last 13 months), as CSV (one line per row, a header
    line first)."""
    return PlainTextResponse(to_csv(rows.board(found, request.app.state.today())), media_type="text/csv")


@router.get("/board/infosocial", response_model=list[InfoSocialRowPublic], responses=NOT_READY)
def infosocial_board(
    principal: Annotated[Principal, Depends(POLICY.caller("infosocial_board"))],
    rows: Board,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    period: CallPeriod = "DAY",
    start: From = None,
    end: To = None,
) -> list[InfoSocialRowPublic]:
    """Info-Social 8-1-1 per region × hour, day or month: calls offered, answered within 4 minutes, 90th percentile."""
    _period(start, end)
    return rows.infosocial(region, Period(period), start, end)


@router.post("/infosocial/calls", status_code=202, response_model=CallsAccepted, responses={503: {}})
def report_calls(
    principal: Annotated[Principal, Depends(POLICY.caller("report_calls"))],
    report: CallsReport,
    sink: Annotated[KafkaPublisher, Depends(publisher)],
    request: Request,
) -> CallsAccepted:
    """Telephony systems report calls (ids and times only); the same call reported again counts once."""
    topic = request.app.state.settings.calls_topic
    sink.publish([Outgoing(topic, call.region, call_event(call, SOURCE)) for call in report.calls])
    return CallsAccepted(accepted=len(report.calls))
