"""Outbound HTTP POSTs to the endpoints RDZ delivers to (client APIs, the companies' CRMs)."""

from dataclasses import dataclass

import requests

BODY_LIMIT = 2000  # characters of the answer kept for the attempt's log


@dataclass(frozen=True)
class HttpAnswer:
    status_code: int
    body: str  # the first BODY_LIMIT characters
    location: str = ""  # where a 3xx answer points

    @property
    def redirect_error(self) -> str:
        """French explanation for a 3xx answer ('' otherwise)."""
        if not 300 <= self.status_code < 400:
            return ""
        return (
            f"HTTP {self.status_code} : redirection vers « {self.location[:200] or '?'} » non suivie "
            "(corrigez l'URL configurée)"
        )


def http_post_json(url: str, *, payload, headers: dict, timeout: float) -> HttpAnswer:
    """POST `payload` as JSON. Raises `requests.RequestException` (Timeout, …) as requests does.

    Redirects are not followed: requests would replay a 301/302 as a GET, whose 200 would
    count as a delivery that never happened, and would send the endpoint's credentials to
    whatever host the redirect names. A 3xx is an answer like any other non-2xx, with its
    target given in `location`. At most BODY_LIMIT characters of the answer are read, so an
    endpoint answering a huge or never-ending body cannot hold a worker or its memory.
    """
    with requests.post(
        url, json=payload, headers=headers, timeout=timeout, allow_redirects=False, stream=True
    ) as response:
        raw = b""
        # iter_content turns the transport's errors into requests' own (ConnectionError…).
        for chunk in response.iter_content(chunk_size=1024):
            raw += chunk
            if len(raw) >= BODY_LIMIT * 4:  # enough bytes for BODY_LIMIT characters
                break
        body = raw.decode(response.encoding or "utf-8", errors="replace")[:BODY_LIMIT]
        return HttpAnswer(response.status_code, body, response.headers.get("Location", ""))
