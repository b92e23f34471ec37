"""A bounded HTTP(S) GET for scrape-style sources (dcgm-exporter, Redfish).

Redfish links (``@odata.id`` paths) are fetched on the configured URL's origin, never elsewhere.

Every call has a timeout and a size cap; failures become ``EnvironmentFaultError`` with the URL,
which the caller records as a SOURCE_ERROR anomaly for that sample.
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from pausewatch.errors import EnvironmentFaultError, LimitExceededError

__all__ = ["HttpFetcher"]


@dataclass(frozen=True)
class HttpFetcher:
    """GET ``url`` with a timeout (s) and a byte cap; optional basic auth and CA bundle."""

    url: str
    timeout_s: float = 2.0
    max_bytes: int = 4 << 20
    username: str = ""
    password: str = ""
    ca_file: str = ""
    verify_tls: bool = True
    headers: tuple[tuple[str, str], ...] = ()  # more request headers (a slurmrestd token)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise EnvironmentFaultError(f"{self.url!r}: only http:// and https:// URLs are scraped")

    def __call__(self, path: str = "") -> str:
        """GET ``url``, or ``path`` (an absolute path such as a Redfish ``@odata.id``) on its origin."""
        url = self.url if not path else self._on_origin(path)
        request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json"})  # noqa: S310 - scheme checked above
        for name, value in self.headers:
            request.add_header(name, value)
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context: ssl.SSLContext | None = None
        if self.url.startswith("https://"):
            context = ssl.create_default_context(cafile=self.ca_file or None)
            if not self.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=context) as response:  # noqa: S310 - scheme checked above
                body: bytes = response.read(self.max_bytes + 1)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise EnvironmentFaultError(f"GET {url}: {e}") from e
        if len(body) > self.max_bytes:
            raise LimitExceededError(f"GET {url}: response exceeds {self.max_bytes} bytes")
        return body.decode("utf-8", "replace")

    def _on_origin(self, path: str) -> str:
        """``path`` on this fetcher's scheme and host: a link from the peer never leads elsewhere."""
        target = urllib.parse.urlsplit(path)
        if target.scheme or target.netloc or not path.startswith("/") or any(c in path for c in "\r\n\\"):
            raise EnvironmentFaultError(f"{path[:100]!r}: only an absolute path on {self.url} is followed")
        base = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit((base.scheme, base.netloc, target.path, target.query, ""))
