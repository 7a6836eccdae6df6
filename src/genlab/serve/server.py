"""The HTTP side of `genlab serve`: the standard library's ThreadingHTTPServer over a Playground.

Why the standard library: the page needs a handful of JSON routes and three static files on
loopback; models run one request at a time per run (a lock), so an async stack would buy nothing,
and http.server adds no dependency and works wherever genlab installs. Each request gets a thread;
bodies are capped before they are read; every answer, error or not, is JSON or a page file.

    server = start_server(["runs/vae", "runs/t2t"], port=0)   # bound, loaded, not yet serving
    print(server.url)
    serve_until_interrupted(server)                           # Ctrl-C returns, socket closed
"""

from __future__ import annotations

import ipaddress
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from genlab import __version__
from genlab.core.errors import GenlabError
from genlab.core.progress import say
from genlab.serve.app import Playground, Response
from genlab.serve.payload import MAX_UPLOAD_BYTES, HTTPError

DRAIN_LIMIT = 8 * MAX_UPLOAD_BYTES  # an oversized body up to this size is read and dropped, so the
# client sees the 413 instead of a reset connection; a larger one just closes the connection


class Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = f"genlab/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a silent client may hold its thread
    error_content_type = "application/json"  # for the errors http.server answers itself (501, 414)
    error_message_format = '{"error": "%(message)s", "status": %(code)d}\n'

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except HTTPError as exc:
            response = Response.error(exc.status, exc.message, exc.headers)
        else:
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            response = self.server.playground.handle(method, url.path, params, body)
        if 400 <= response.status < 500:
            say(f"{response.status} {method} {url.path}: {response.body.decode(errors='replace')[:200]}")
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise HTTPError(400, f"Content-Length {raw[:20]!r} is not a size")
        if length > MAX_UPLOAD_BYTES:
            remaining = length if length <= DRAIN_LIMIT else 0
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
            self.close_connection = True
            raise HTTPError(
                413, f"the upload is {int(raw) / 2**20:.1f} MB; {MAX_UPLOAD_BYTES // 2**20} MB at most"
            )
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        """A body sent in chunks (no Content-Length), up to the same cap."""
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise HTTPError(400, "the chunked body is malformed") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailer lines, up to the blank one
                    pass
                return bytes(body)
            if len(body) + size > MAX_UPLOAD_BYTES:
                self.close_connection = True
                raise HTTPError(413, f"the upload is over {MAX_UPLOAD_BYTES // 2**20} MB; that is the cap")
            body += self.rfile.read(size)
            self.rfile.readline(8)  # the CRLF after each chunk

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in response.headers.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        """No line per request; errors are said in `_answer`, bugs print their traceback."""

    def log_error(self, format: str, *args) -> None:  # noqa: A002
        say("genlab serve: " + format % args)


class PlaygroundServer(ThreadingHTTPServer):
    """One thread per request over one Playground; `url` is where the page is."""

    daemon_threads = True  # Ctrl-C does not wait for a client that keeps its connection open

    def __init__(self, playground: Playground, host: str, port: int) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.playground = playground
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in str(host) else f"http://{host}:{port}/"


def start_server(runs: list[Path | str], host: str = "127.0.0.1", port: int = 8000) -> PlaygroundServer:
    """Load the runs and bind the port; `serve_forever()` (or serve_until_interrupted) then answers."""
    if not 0 <= port <= 65535:
        raise GenlabError(f"--port {port}: use 1..65535, or 0 for any free port")
    playground = Playground.open([Path(r) for r in runs])
    try:
        return PlaygroundServer(playground, host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise GenlabError(
            f"cannot listen on {host}:{port} ({reason}): choose another --port (0 picks a free one) or --host"
        ) from None


def host_warning(host: str) -> str | None:
    """A warning for any address beyond this machine: the page runs models for whoever reaches it."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"listening on {host}, not 127.0.0.1: anyone who can reach this address can use the page "
        "(there is no login); keep the default unless you mean to share it"
    )


def serve_until_interrupted(server: PlaygroundServer) -> None:
    """Answer requests until Ctrl-C, then close the socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
