"""The review page: a run's selected images, round by round, for 👍 / 👎 / neutral and a comment.

Server-rendered HTML with one local script and stylesheet (no CDN, works offline). A reviewer
signs in once with their token (kept in an HttpOnly, SameSite=Strict cookie); each click posts
one event to /api/feedback/events with its own client event id, so a retried click stores once.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from .api.rounds import RunId
from .auth import COOKIE_NAME
from .deps import ServerDep

router = APIRouter(include_in_schema=False)
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
# the page loads only its own files: no inline script, nothing from elsewhere
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
VERDICTS = (("positive", "👍", "1 or u"), ("negative", "👎", "2 or d"), ("neutral", "😐", "0 or n"))
MAX_FORM_BYTES = 4096


def _page(template: str, status: int = 200, **context) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP,
                                                             "X-Content-Type-Options": "nosniff",
                                                             "Referrer-Policy": "no-referrer"})


def _signed_in(request: Request, server):
    token = request.cookies.get(COOKIE_NAME)
    return server.users.caller(token) if token else None


def _login(next_path: str, error: str | None = None) -> HTMLResponse:
    return _page("login.html", status=401 if error is None else 403, next_path=next_path, error=error)


@router.get("/review", response_class=HTMLResponse)
def latest(request: Request, server: ServerDep):
    run_id = server.store.latest_run_id()
    if run_id is None:
        return _page("empty.html", message="No run in this workspace yet.")
    return RedirectResponse(f"/review/{quote(run_id)}", status_code=302)


@router.get("/review/{run_id}", response_class=HTMLResponse)
def review(run_id: RunId, request: Request, server: ServerDep):
    who = _signed_in(request, server)
    if who is None:
        return _login(f"/review/{run_id}")
    run = server.store.run(run_id)
    if run is None:
        return _page("empty.html", status=404, message=f"No run {run_id!r} in this workspace.")
    images = server.store.review_images(run_id)
    verdicts = server.store.user_verdicts(who.name, [i["id"] for i in images]) if images else {}
    rounds = [(r, list(items)) for r, items in groupby(images, key=lambda i: i["round"])]
    request_text = run["config"].get("request") if isinstance(run.get("config"), dict) else None
    return _page("review.html", run_id=run_id, request_text=request_text, run_status=run["status"], rounds=rounds,
                 verdicts=verdicts, choices=VERDICTS, user=who.name, n_images=len(images))


@router.post("/review/login")
async def login(request: Request, server: ServerDep):
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _login("/review", "That form is too large.")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=5).items()}
    next_path = form.get("next", "/review")
    if not next_path.startswith("/review") or "//" in next_path or "\\" in next_path:
        next_path = "/review"  # only ever back to a review page on this server
    token = form.get("token", "").strip()
    who = server.users.caller(token) if token else None
    if who is None:
        return _login(next_path, "That token is not known here. Ask the workspace's admin for yours.")
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        max_age=30 * 24 * 3600, path="/")
    return response


@router.post("/review/logout")
def logout() -> Response:
    response = RedirectResponse("/review", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


