"""A spotipy client built from configuration.

Client credentials come only from the environment. The API base and the token URL come from
`ingest.spotify`, so the same code talks to Spotify or to a local recording. One retry policy
serves both the token request and the API calls: spotipy's own (urllib3's Retry, which honours
Retry-After on 429/503 and backs off exponentially on 5xx), with its waits bounded by config.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOauthError
from spotipy.util import Retry

from hz45.errors import ConfigError, Hz45Error, ServiceUnavailable
from hz45.settings import SpotifyIngestSettings

CLIENT_ID_ENV = "SPOTIPY_CLIENT_ID"
CLIENT_SECRET_ENV = "SPOTIPY_CLIENT_SECRET"
# Status codes worth another try: rate limiting and transient server errors.
RETRY_STATUSES = (429, 500, 502, 503, 504)


class SpotifyApiError(Hz45Error):
    """The Spotify Web API refused a request; `status` is its HTTP status."""

    def __init__(self, status: int, message: str, hint: str | None = None):
        self.status = status
        super().__init__(message, hint)


class RateLimited(Hz45Error):
    """Spotify asked for a longer pause than the configured bound."""


class BoundedRetry(Retry):
    """spotipy's retry policy, except that a Retry-After above `max_wait` stops the run.

    urllib3 would otherwise sleep up to six hours, or (with a lower cap) cut the wait short and
    spend the remaining retries on requests Spotify has said it will refuse.
    """

    def __init__(self, *args, max_wait: float = 0.0, **kwargs):
        # urllib3 clamps Retry-After to retry_after_max first; lifted, so the real wait is seen.
        kwargs.setdefault("retry_after_max", sys.maxsize)
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kw) -> BoundedRetry:
        retry = super().new(**kw)
        retry.max_wait = self.max_wait
        return retry

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = super().parse_retry_after(retry_after)
        if seconds > self.max_wait:
            raise RateLimited(
                f"Spotify asks to wait {seconds:.0f} s before the next request, more than "
                f"ingest.spotify.max_retry_after_s={self.max_wait:g}",
                "run the command again later; it only adds what is missing",
            )
        return seconds


class _RedactAuthorization(logging.Filter):
    """spotipy logs request headers at DEBUG, which hold the client secret (Basic) or the token."""

    _pattern = re.compile(r"\b(Basic|Bearer)\s+[^\s'\"}]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._pattern.sub(r"\1 <redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _redact_spotipy_logs() -> None:
    for name in ("spotipy.client", "spotipy.oauth2", "spotipy.util"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactAuthorization) for f in logger.filters):
            logger.addFilter(_RedactAuthorization())


def credentials(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    env = os.environ if environ is None else environ
    missing = [name for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV) if not env.get(name)]
    if missing:
        raise ConfigError(
            f"Spotify credentials missing: set {' and '.join(missing)}",
            "client credentials of an app from developer.spotify.com",
        )
    return env[CLIENT_ID_ENV], env[CLIENT_SECRET_ENV]


def _session(cfg: SpotifyIngestSettings) -> requests.Session:
    retry = BoundedRetry(
        total=cfg.retries,
        connect=None,
        read=False,
        allowed_methods=frozenset(["GET", "POST"]),  # POST: the token request, safe to repeat
        status=cfg.retries,
        backoff_factor=cfg.backoff_factor,
        backoff_max=cfg.backoff_max_s,
        status_forcelist=RETRY_STATUSES,
        max_wait=cfg.max_retry_after_s,
    )
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def spotify_client(cfg: SpotifyIngestSettings, environ: Mapping[str, str] | None = None) -> spotipy.Spotify:
    """A client-credentials spotipy client for `cfg`; the token stays in memory only."""
    client_id, client_secret = credentials(environ)
    _redact_spotipy_logs()
    session = _session(cfg)
    auth = SpotifyClientCredentials(
        client_id=client_id,
        client_secret=client_secret,
        requests_session=session,
        requests_timeout=cfg.timeout_s,
        cache_handler=MemoryCacheHandler(),
    )
    auth.OAUTH_TOKEN_URL = cfg.auth_url  # spotipy reads the token URL from this attribute
    client = spotipy.Spotify(auth_manager=auth, requests_session=session, requests_timeout=cfg.timeout_s)
    client.prefix = cfg.api_base if cfg.api_base.endswith("/") else cfg.api_base + "/"
    return client


def _exhausted(what: str, cfg: SpotifyIngestSettings, status: int) -> SpotifyApiError:
    return SpotifyApiError(
        status,
        f"Spotify {what}: still failing after {cfg.retries} retries (rate limit or server errors)",
        "run the command again later; it only adds what is missing",
    )


@contextmanager
def api_errors(what: str, cfg: SpotifyIngestSettings) -> Iterator[None]:
    """Turn spotipy and transport failures into one-line errors that carry no credentials."""
    try:
        yield
    except SpotifyOauthError as exc:
        raise SpotifyApiError(
            401,
            f"Spotify token request refused ({exc.error or 'no reason given'})",
            f"check {CLIENT_ID_ENV} / {CLIENT_SECRET_ENV} and ingest.spotify.auth_url",
        ) from None
    except spotipy.SpotifyException as exc:
        # spotipy's message is "<url>:\n <Spotify's message>"; the URL holds no credentials.
        url, _, reason = exc.msg.partition(":\n ")
        if reason == "Max Retries":
            raise _exhausted(what, cfg, exc.http_status) from None
        raise SpotifyApiError(exc.http_status, f"Spotify {what}: HTTP {exc.http_status} ({reason or url})") from None
    except requests.exceptions.RetryError:  # the token request has no spotipy wrapper
        raise _exhausted(what, cfg, 429) from None
    except requests.RequestException as exc:
        raise ServiceUnavailable(
            f"Spotify {what}: no answer from {cfg.api_base} ({type(exc).__name__})",
            "check the network or ingest.spotify.api_base",
        ) from None
