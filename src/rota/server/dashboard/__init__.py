"""The dashboard: a static single-page app served from the package, no build step.

Plain JavaScript modules and CSS under static/ read the same REST API as every other
client, and follow `GET /api/v1/events` (server-sent events) to update without reloads.
Every page of the app (its deep links, such as /jobs/ID) answers with index.html, and the
app's router draws the page from the address.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from rota.safe_text import excerpt

STATIC_DIR = Path(__file__).parent / "static"
PAGES = ("", "jobs", "tasks", "schedules", "reminders", "workers", "submit")
"""The first path segments the app draws; anything else is a 404."""
_NO_CACHE = {"cache-control": "no-cache"}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
}


def _locate(path: str) -> Path | None:
    """Return the static file at `path`, or None if there is none (or it lies outside)."""
    root = STATIC_DIR.resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or file.suffix not in _TYPES or not file.is_file():
        return None
    return file


def router() -> APIRouter:
    """Return the routes of the dashboard: its pages and its static files."""
    routes = APIRouter()
    index = STATIC_DIR / "index.html"

    @routes.get("/static/{path:path}")
    async def static(path: str) -> FileResponse:
        file = await asyncio.to_thread(_locate, path)
        if file is None:
            raise HTTPException(404, f"no file {excerpt(path)} in the dashboard")
        return FileResponse(file, media_type=_TYPES[file.suffix], headers=_NO_CACHE)

    async def page() -> FileResponse:
        return FileResponse(index, media_type=_TYPES[".html"], headers=_NO_CACHE)

    routes.add_api_route("/", page, methods=["GET"])
    for name in PAGES[1:]:
        routes.add_api_route(f"/{name}", page, methods=["GET"])
        routes.add_api_route(f"/{name}/{{rest:path}}", page, methods=["GET"])
    return routes
