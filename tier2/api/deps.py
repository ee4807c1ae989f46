"""FastAPI dependencies of the routes: the runtime, the caller, and keys from paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tier2.api.auth import Caller, identify_caller
from tier2.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan built; the only place that reads `app.state`."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_caller(request: Request, runtime: RuntimeDep) -> Caller:
    return identify_caller(
        authorization=request.headers.get("authorization"),
        client_host=request.client.host if request.client else None,
        runtime=runtime,
    )


CallerDep = Annotated[Caller, Depends(get_caller)]
