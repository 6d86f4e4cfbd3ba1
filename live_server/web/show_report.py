"""A show's report as CSV (the figures, the products, the minutes): outside the command table
because the answer is a file, not JSON; the same report as ``GET /api/rooms/{room_id}/report``."""

from __future__ import annotations

from aiohttp import web

from live_server.web.http import csv_file, identity, services

routes = web.RouteTableDef()


@routes.get("/api/rooms/{room_id}/report.csv")
async def show_report_csv(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    text = await services(request).show_reports.csv(identity(request), room_id)
    return csv_file(text, f"report-{room_id}.csv")
