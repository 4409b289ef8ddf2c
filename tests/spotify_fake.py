"""A local stand-in for the Spotify Web API: recorded responses served on 127.0.0.1.

Every recorded response body is checked against the Spotify Web API OpenAPI description in the
shared data folder when it is loaded, and every request the client sends is checked against the
operation's declared query parameters (a request Spotify would refuse gets a 400 here too).
The token endpoint implements the client-credentials grant, so the client authenticates for real.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

FIXTURES = Path(__file__).parent / "fixtures" / "spotify"
SPEC_FILE = Path("spotify-web-api") / "fixed-spotify-open-api.yml"
SPEC_URI = "urn:spotify-web-api"
API_PREFIX = "/v1"
TOKEN_PATH = "/api/token"
CLIENT_ID = "4f1c1b2ed7a24c2fa3b0d2c1e9a8b7c6"
CLIENT_SECRET = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
ACCESS_TOKEN = "BQDx3Jm0sYqL8-local-recorded-token-7Hk2"
# The recorded k-pop artist search (5 artists, pages of 2) and those artists' top tracks.
KPOP_ARTIST_PAGES = ("search_artists_kpop_offset0", "search_artists_kpop_offset2", "search_artists_kpop_offset4")
KPOP = (*KPOP_ARTIST_PAGES, "top_tracks_aespa", "top_tracks_newjeans", "top_tracks_babymonster", "top_tracks_bts",
        "top_tracks_blackpink")


class OpenApi:
    """Response schemas and query parameters of the Spotify Web API description."""

    def __init__(self, path: Path):
        with path.open() as fh:
            self.spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.registry = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(self.spec))
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"), template)
            for template in self.spec["paths"]
        ]

    def operation(self, method: str, path: str) -> tuple[str, dict]:
        """The path template and operation object that serve `method path` (path below /v1)."""
        for pattern, template in self.templates:
            if pattern.match(path) and method.lower() in self.spec["paths"][template]:
                return template, self.spec["paths"][template][method.lower()]
        raise LookupError(f"{method} {path} is not an operation of the Spotify Web API")

    def _resolve(self, node: dict, pointer: str) -> tuple[dict, str]:
        while "$ref" in node:
            pointer = node["$ref"].lstrip("#")
            node = self._at(pointer)
        return node, pointer

    def _at(self, pointer: str) -> dict:
        node = self.spec
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def response_pointer(self, method: str, path: str, status: int) -> str:
        """JSON pointer to the schema of the response. Statuses the description does not list
        (server errors) get the error envelope that every listed error response shares, taken
        from the operation's 429 response."""
        template, op = self.operation(method, path)
        escaped = template.replace("~", "~0").replace("/", "~1")
        responses = op["responses"]
        key = str(status) if str(status) in responses else "429"
        response, pointer = self._resolve(responses[key], f"/paths/{escaped}/{method.lower()}/responses/{key}")
        assert "application/json" in response["content"], f"{template}: no JSON body for {key}"
        return pointer + "/content/application~1json/schema"

    def response_errors(self, method: str, path: str, status: int, body: object) -> list[str]:
        pointer = self.response_pointer(method, path, status)
        validator = OAS30Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry)
        return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in validator.iter_errors(body)]

    def request_errors(self, method: str, path: str, query: dict[str, str]) -> list[str]:
        """What Spotify would reject in the query: missing required parameters, bad values."""
        _, op = self.operation(method, path)
        problems = []
        for param in op.get("parameters", []):
            param, _ = self._resolve(param, "")
            if param["in"] != "query":
                continue
            name, schema = param["name"], param["schema"]
            if name not in query:
                if param.get("required"):
                    problems.append(f"missing required parameter {name}")
                continue
            value = _typed(query[name], schema)
            errors = list(OAS30Validator(schema, registry=self.registry).iter_errors(value))
            problems += [f"parameter {name}={query[name]!r}: {e.message}" for e in errors]
        return problems


def _typed(raw: str, schema: dict) -> object:
    if schema.get("type") == "integer":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else raw
    if schema.get("type") == "array":
        return raw.split(",")
    return raw


@dataclass
class Recorded:
    """One recorded exchange: the request it answers and the response."""

    name: str
    method: str
    path: str
    query: dict[str, str]
    status: int
    headers: dict[str, str]
    body: object

    def answers(self, method: str, path: str, query: dict[str, str]) -> bool:
        return (method, path) == (self.method, self.path) and all(query.get(k) == v for k, v in self.query.items())


def load_recorded(name: str, api: OpenApi) -> Recorded:
    """A fixture from tests/fixtures/spotify; fails if its body does not match the description."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    req, resp = doc["request"], doc["response"]
    recorded = Recorded(name, req["method"], req["path"], req["query"], resp["status"], resp["headers"], resp["body"])
    errors = api.response_errors(recorded.method, recorded.path, recorded.status, recorded.body)
    if errors:
        raise AssertionError(f"fixture {name} does not match the Spotify Web API description: {errors}")
    return recorded


@dataclass
class Request:
    at: float
    method: str
    path: str
    query: dict[str, str]


@dataclass
class FakeSpotify:
    """The server's script: recorded exchanges, each served `times` times (None: always), the
    first still available that answers a request winning."""

    api: OpenApi
    base_url: str = ""
    script: list[list] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    token_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, *names: str, times: int | None = None) -> None:
        for name in names:
            self.script.append([load_recorded(name, self.api), times])

    def api_calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    @cached_property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PREFIX}/"

    @cached_property
    def auth_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def answer(self, method: str, path: str, query: dict[str, str]) -> tuple[int, dict, object]:
        with self.lock:
            self.requests.append(Request(time.monotonic(), method, path, query))
            try:
                problems = self.api.request_errors(method, path, query)
            except LookupError as exc:
                return 404, {}, {"error": {"status": 404, "message": str(exc)}}
            if problems:
                return 400, {}, {"error": {"status": 400, "message": "; ".join(problems)}}
            for entry in self.script:
                recorded, times = entry
                if times != 0 and recorded.answers(method, path, query):
                    if times is not None:
                        entry[1] = times - 1
                    return recorded.status, recorded.headers, recorded.body
        return 404, {}, {"error": {"status": 404, "message": f"no recording for {method} {path} {query}"}}


def _handler(fake: FakeSpotify) -> type[BaseHTTPRequestHandler]:
    expected_basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, headers: dict, body: object) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            if urlsplit(self.path).path != TOKEN_PATH:
                return self._send(404, {}, {"error": {"status": 404, "message": "Not found"}})
            with fake.lock:
                fake.token_requests += 1
            if self.headers.get("Authorization") != expected_basic:
                return self._send(400, {}, {"error": "invalid_client", "error_description": "Invalid client"})
            if form.get("grant_type") != ["client_credentials"]:
                return self._send(400, {}, {"error": "unsupported_grant_type"})
            self._send(200, {}, {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if not url.path.startswith(API_PREFIX + "/"):
                return self._send(404, {}, {"error": {"status": 404, "message": "Not found"}})
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                return self._send(401, {}, {"error": {"status": 401, "message": "Invalid access token"}})
            # spotipy asks for "audio-features/?ids=..."; Spotify serves it as /audio-features.
            path = url.path[len(API_PREFIX):].rstrip("/")
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._send(*fake.answer("GET", path, query))

    return Handler


def start(fake: FakeSpotify) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="fake-spotify", daemon=True).start()
    return server
