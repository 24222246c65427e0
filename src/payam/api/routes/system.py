from __future__ import annotations

from payam import __version__
from payam.api.deps import ServicesDep
from payam.api.responses import HealthOut
from payam.api.routing import api_router

router = api_router(prefix="", tags=["system"])


@router.get("/health", response_model=HealthOut)
async def health(services: ServicesDep) -> dict[str, str]:
    """Liveness and database reachability."""
    async with services.db.read(quick=True) as conn:
        await conn.exec_driver_sql("SELECT 1")
    return {"status": "ok", "version": __version__}
