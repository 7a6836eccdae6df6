"""The playground: the served runs by the names the server gave them at start, and every route.

    GET  /                         the page (index.html); /static/app.js and /static/style.css
    GET  /api/runs                 {"runs": [summary, ...]}
    GET  /api/runs/NAME            one run's summary: what it is and the features it offers
    GET  /api/runs/NAME/ACTION     e.g. sample?n=16&seed=3, interpolate?a=0&b=1&t=0.5, ask?q=12%2B7
    POST /api/runs/NAME/ACTION     an image in the body: reconstruct (CAE/VAE), read (image-input arith)

Requests only ever name runs and actions: no path from a request is read or written. Every error is
JSON {"error": message, "status": code}: 4xx for what the user can fix, 500 (traceback in the
server's terminal, never on the page) for a bug.
"""

from __future__ import annotations

import json
import re
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir
from genlab.images.config import KINDS as IMAGE_KINDS
from genlab.serve.arith_runs import ServedArithRun
from genlab.serve.image_runs import ServedImageRun
from genlab.serve.payload import HTTPError, Request

# what serves each kind of run; a new kind (a conditional or diffusion model) registers here
SERVED: dict[str, type] = {**dict.fromkeys(IMAGE_KINDS, ServedImageRun), "arith": ServedArithRun}
# the page's files: fixed names read once from the package, never a path from a request
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


class ServedRun(Protocol):
    name: str
    product: str
    actions: dict[str, tuple[str, Any]]  # action -> (HTTP method, handler(Request) -> dict)

    def summary(self) -> dict[str, Any]: ...


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload).encode()
        return cls(status, "application/json", body, headers or {})

    @classmethod
    def error(cls, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json({"error": message, "status": status}, status, headers)


def run_names(paths: list[Path]) -> list[str]:
    """Short, URL-safe, unique names from the runs' folder names: runs/vae -> vae, a second vae -> vae-2."""
    names: list[str] = []
    for path in paths:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).resolve().name).strip("-.") or "run"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def open_run(name: str, path: Path) -> ServedRun:
    kind = RunDir.open(path).kind
    if kind not in SERVED:
        raise GenlabError(
            f"{path} is a {kind!r} run, which genlab serve cannot show yet ({', '.join(SERVED)})"
        )
    return SERVED[kind](name, path)


class Playground:
    """The runs on the page and the routes over them; `handle` never raises."""

    def __init__(self, runs: dict[str, ServedRun]) -> None:
        self.runs = runs
        folder = resources.files("genlab.serve") / "static"
        self.files = {name: (folder / name).read_bytes() for name in STATIC}

    @classmethod
    def open(cls, paths: list[Path]) -> Playground:
        if not paths:
            raise GenlabError("name at least one trained run to serve")
        return cls({name: open_run(name, Path(p)) for name, p in zip(run_names(paths), paths, strict=True)})

    def handle(self, method: str, path: str, params: dict[str, str], body: bytes = b"") -> Response:
        try:
            return self._route(method, path, Request(params, body))
        except HTTPError as exc:
            return Response.error(exc.status, exc.message, exc.headers)
        except GenlabError as exc:  # the user's mistake, said in one line by the library
            return Response.error(400, str(exc))
        except Exception as exc:  # a bug: the traceback goes to the terminal, never to the page
            traceback.print_exc()
            return Response.error(
                500, f"internal error ({type(exc).__name__}); the server's terminal says more"
            )

    def _route(self, method: str, path: str, request: Request) -> Response:
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["api"]:
            return self._static(method, parts)
        if parts[1:2] != ["runs"] or len(parts) > 4:
            raise HTTPError(404, f"no such API route {path!r}: try /api/runs")
        if len(parts) == 2:
            _only(method, "GET")
            return Response.json({"runs": [run.summary() for run in self.runs.values()]})
        run = self._run(parts[2])
        if len(parts) == 3:
            _only(method, "GET")
            return Response.json(run.summary())
        action = parts[3]
        if action not in run.actions:
            raise HTTPError(404, f"run {run.name!r} has no {action!r}; it offers {', '.join(run.actions)}")
        allowed, handler = run.actions[action]
        _only(method, allowed)
        return Response.json(handler(request))

    def _run(self, name: str) -> ServedRun:
        if name not in self.runs:
            raise HTTPError(404, f"no run named {name!r}; this server has {', '.join(self.runs)}")
        return self.runs[name]

    def _static(self, method: str, parts: list[str]) -> Response:
        _only(method, "GET")
        if parts in ([], ["index.html"]):
            name = "index.html"
        elif len(parts) == 2 and parts[0] == "static" and parts[1] in STATIC:
            name = parts[1]
        elif parts == ["favicon.ico"]:
            return Response(204, "image/x-icon", b"")
        else:
            raise HTTPError(404, f"no page {'/' + '/'.join(parts)!r}: the page is at /")
        return Response(200, STATIC[name], self.files[name], {"Cache-Control": "no-cache"})


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise HTTPError(405, f"use {allowed} here, not {method}", {"Allow": allowed})
