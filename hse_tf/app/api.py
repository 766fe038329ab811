"""The search page's back end: a FastAPI app over a Gallery (JSON API, thumbnails, media, the
page itself, health and Prometheus metrics).

FastAPI (on Starlette, served by uvicorn): the JSON API gets an OpenAPI schema
(/openapi.json) for free, Starlette's FileResponse answers HTTP Range requests (so the page's
<video> can seek), and its TestClient lets the tests speak HTTP without a socket. The
interactive /docs page is off: it loads scripts from a CDN, and nothing here is fetched from
the internet.

Rules: every id is looked up in the index, never joined into a path; only the page's own files
and the gallery's thumbnails and media are served; bad parameters get 400 with
{"error": ..., "parameter": ...}; unknown ids get 404. With a token, every request needs
`Authorization: Bearer <token>`, or the HttpOnly cookie that POST /login sets for a browser.
"""

import hmac
import os
import time
import urllib.parse

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest)

from hse_tf.app.gallery import BadParameter

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGE_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
COOKIE = "hse_tf_token"
OPEN_PATHS = ("/login",)  # reachable without a token (the form that sets the cookie)
MAX_BODY_BYTES = 4096  # the largest request body read (only POST /login has one: a token)
LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>hse_tf search: sign in</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="login"><h1>hse_tf search</h1>
<form method="post" action="/login"><label>Access token
<input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></main></body></html>"""


def _error(status, message, parameter=None):
    body = {"error": message}
    if parameter:
        body["parameter"] = parameter
    return JSONResponse(body, status_code=status)


class Metrics:
    """Requests, errors and latency per route, in their own registry (several apps in one
    process, as in the tests, do not collide)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("hse_app_requests_total", "HTTP requests",
                                ["route", "method", "status"], registry=self.registry)
        self.errors = Counter("hse_app_errors_total", "HTTP responses with status >= 400",
                              ["route", "status"], registry=self.registry)
        self.latency = Histogram("hse_app_request_seconds", "Request latency", ["route"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                          5, 10), registry=self.registry)

    def observe(self, route, method, status, seconds):
        self.requests.labels(route, method, str(status)).inc()
        if status >= 400:
            self.errors.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)


class Guard:
    """Plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every request):
    the token check, the metrics, and `X-Content-Type-Options: nosniff` on every answer."""

    def __init__(self, app, authorised, metrics):
        self.app, self.authorised, self.metrics = app, authorised, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = list(message.get("headers", [])) + [
                    (b"x-content-type-options", b"nosniff")]
            await send(message)

        request = Request(scope)
        declared = request.headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            # Refused before a byte of the body is read, token or not.
            response = _error(413, f"request body over {MAX_BODY_BYTES} bytes")
            await response(scope, receive, send_with_headers)
        elif not self.authorised(request) and scope["path"] not in OPEN_PATHS:
            response = _error(401, "missing or wrong token (Authorization: Bearer ...)")
            if scope["path"] == "/" and scope["method"] == "GET":
                response = RedirectResponse("/login", status_code=303)
            await response(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
        route = scope.get("route")
        self.metrics.observe(getattr(route, "path", "unmatched"), scope["method"], status[0],
                             time.perf_counter() - start)


def create_app(gallery, token=None):
    """The ASGI app. `token`: a bearer token every request must carry (None: open)."""
    from hse_tf import __version__
    app = FastAPI(title="hse_tf moment search", version=__version__, docs_url=None,
                  redoc_url=None)
    metrics = Metrics()
    want = f"Bearer {token}".encode() if token else None

    def authorised(request):
        if want is None:
            return True
        header = request.headers.get("authorization", "").encode()
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(header, want) or (
            bool(cookie) and hmac.compare_digest(f"Bearer {cookie}".encode(), want))

    app.add_middleware(Guard, authorised=authorised, metrics=metrics)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return FileResponse(os.path.join(STATIC, "index.html"), media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in PAGE_FILES:
            return _error(404, "not found")
        return FileResponse(os.path.join(STATIC, name), media_type=PAGE_FILES[name])

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form():
        return HTMLResponse(LOGIN_PAGE)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        body = b""
        async for chunk in request.stream():  # a body without Content-Length: read at most
            body += chunk                      # MAX_BODY_BYTES of it, then stop
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        body = body.decode("utf-8", "replace")
        given = urllib.parse.parse_qs(body).get("token", [""])[0]
        if want is None or not hmac.compare_digest(f"Bearer {given}".encode(), want):
            return _error(401, "wrong token")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response

    @app.get("/api/search")
    def search(q: str = "", k: str = "10", level: str = "video"):
        """Text -> videos (level=video: paragraph embedding; moments per sentence) or clips
        (level=clip: one sentence -> moments)."""
        try:
            data = gallery.search(q, k, level)
        except BadParameter as e:
            return _error(400, str(e), e.parameter)
        timing = ", ".join(f"{name};dur={ms:.3f}" for name, ms in data["timing_ms"].items())
        return JSONResponse(data, headers={"Server-Timing": timing})

    @app.get("/api/videos/{video_id}")
    def video(video_id: str):
        """A video's thumbnail, media and clips (with their moments in seconds)."""
        try:
            return gallery.video(video_id)
        except KeyError:
            return _error(404, "unknown video", "video_id")

    @app.get("/api/similar")
    def similar(video: str = "", k: str = "5"):
        """Video -> the text index's nearest paragraphs (needs --text_index)."""
        try:
            return gallery.paragraphs_like(video, k)
        except BadParameter as e:
            return _error(400, str(e), e.parameter)
        except KeyError:
            return _error(404, "unknown video", "video")

    @app.get("/thumbs/{video_id}", include_in_schema=False)
    def thumbnail(video_id: str, clip: str = ""):
        try:
            number = int(clip) if clip else None
        except ValueError:
            return _error(400, f"clip: not an integer: {clip!r}", "clip")
        path = gallery.thumbnail_file(video_id, number)
        if path is None:
            return _error(404, "no such thumbnail")
        return FileResponse(path, media_type="image/jpeg")

    @app.get("/media/{video_id}", include_in_schema=False)
    def media(video_id: str):
        path = gallery.media_file(video_id)
        if path is None:
            return _error(404, "no such video file")
        return FileResponse(path)  # answers Range requests with 206 Partial Content

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", **gallery.summary()}

    @app.get("/metrics", include_in_schema=False)
    def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    return app
