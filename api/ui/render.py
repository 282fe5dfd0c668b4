"""HTML rendering for the UI: one Jinja2 environment over the package's templates, the
headers every page carries, and error pages for /ui/ paths (the API keeps JSON errors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import falcon
import jinja2

from wfobj.engine import TaskStatus, clip

from .dag import COUNT_ORDER, STATE_MARKS

UI_PREFIX = "/ui"
# everything from this origin, nothing inline, no framing: the pages need no more
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
                "Cache-Control": "no-store"}


def short(value: str | None, n: int = 12) -> str:
    return "" if value is None else str(value)[:n]


def duration(seconds: float | None) -> str:
    """0.183 s, 12.4 s, 3 min 05 s, 2 h 01 min."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 10:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def when(stamp: str | None) -> str:
    """An RFC 3339 stamp as `2026-11-24 14:27:35 UTC` (the exact value goes in datetime=)."""
    if not stamp:
        return ""
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return stamp
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


LIST_SHOWN = 20  # items of a list parameter a page shows (a fan-out's may have 100,000)
TEXT_SHOWN = 2000  # characters of a parameter's JSON a page shows


def json_clip(value: object) -> str:
    """A parameter as JSON for reading, a long list cut to its first LIST_SHOWN items (the
    page says how many more) and a long text to TEXT_SHOWN characters."""
    if isinstance(value, list | tuple) and len(value) > LIST_SHOWN:
        return as_json(list(value[:LIST_SHOWN]))[:-1] + ", …]"
    text = as_json(value)
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN - 1] + "…"


def path_part(value: str) -> str:
    """A name as one URL path segment: `align[a+b]` → `align%5Ba%2Bb%5D`."""
    return quote(str(value), safe="")


def as_json(value: object) -> str:
    """A value as JSON text for reading; autoescape makes it safe (Jinja's `tojson` would
    show `<` and `>` as `\u003c` and `\u003e`)."""
    return json.dumps(value, ensure_ascii=False)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("wfobj.api.ui", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(short=short, duration=duration, when=when, size=size, json=as_json,
                       path_part=path_part, json_clip=json_clip)
    env.globals.update(state_marks=STATE_MARKS, TaskStatus=TaskStatus,
                       count_order=[str(s) for s in COUNT_ORDER], list_shown=LIST_SHOWN)
    return env


class Renderer:
    """`render(req, resp, template, **context)`: the page as the response body."""

    def __init__(self, engine_version: str) -> None:
        self.env = environment()
        self.engine_version = engine_version

    def page(self, req: falcon.Request, template: str, **context) -> str:
        base = {"user": getattr(req.context, "user", None),
                "role": getattr(req.context, "role", None),
                "engine_version": self.engine_version, "path": req.path, "live": False}
        return self.env.get_template(template).render({**base, **context})

    def __call__(self, req: falcon.Request, resp: falcon.Response, template: str,
                 **context) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.set_headers(PAGE_HEADERS)
        resp.text = self.page(req, template, **context)


def html_errors(render: Renderer, json_serializer: Callable) -> Callable:
    """An error serializer: an HTML page under /ui/, the API's JSON everywhere else."""

    def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
        if not (req.path == UI_PREFIX or req.path.startswith(UI_PREFIX + "/")):
            json_serializer(req, resp, exc)
            return
        description = exc.description or f"no such page: {clip(req.path)}"
        render(req, resp, "error.html", status=exc.status, title=exc.title or "Error",
               description=clip(description, 2000))

    return serialize
