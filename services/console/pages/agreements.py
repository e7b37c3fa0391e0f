"""The agreements manager's page: the organisation's agreements, their status, volumes used, reviews due."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.gateway import Gateway
from services.console.session import AUDITORS
from services.console.web import Api, SignedIn, render, requires

router = APIRouter()


async def _with_volumes(api: Gateway, agreement: dict[str, Any]) -> dict[str, Any]:
    volumes = await api.get("agreements", f"/v1/agreements/{agreement['id']}/volumes")
    return {**agreement, "volume_use": volumes}


@router.get("/ententes")
async def agreements(request: Request, session: SignedIn, api: Api) -> Response:
    """Every agreement the organisation is a party to, with this year's volumes against the annual ones."""
    requires(session, "coordinator", "admin", *AUDITORS)
    found = await api.get("agreements", "/v1/agreements", party=session.org, limit=500)
    items = await asyncio.gather(*(_with_volumes(api, a) for a in found["items"]))
    return render(request, "agreements.html", agreements=items)
