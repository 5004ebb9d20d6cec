"""JSON over HTTP to a vLLM server, with retries and back-off, ending in one clear line naming the URL.

Kept apart from the backend so the client needs only `requests` (no vllm import) and the retry policy is in one
place. Retried: connection refused/reset, timeouts, 5xx (a server starting, overloaded or dying). Not retried:
4xx (a bad request will stay bad), reported with the server's own message.
"""

from __future__ import annotations

import time
from typing import Callable

import requests

from transfer.errors import TransferError

RETRY_STATUS = {500, 502, 503, 504}


class ServerError(TransferError):
    """The vLLM server could not be reached, kept failing, or refused a request."""


class Client:
    def __init__(self, url: str, retries: int = 3, backoff_s: float = 1.0, timeout_s: float = 600.0,
                 on_give_up: Callable[[], str] | None = None):
        self.url = url.rstrip("/")
        self.retries, self.backoff_s, self.timeout_s = int(retries), float(backoff_s), float(timeout_s)
        self.on_give_up = on_give_up  # extra words for the final error (e.g. "server process exited, log: ...")
        self.session = requests.Session()

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = self.session.request(method, self.url + path, json=body, timeout=self.timeout_s)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
                continue
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}"
                continue
            if resp.status_code >= 400:
                raise ServerError(f"vLLM server {self.url}{path} refused the request: HTTP {resp.status_code} "
                                  f"{_message(resp)}")
            return resp.json()
        extra = self.on_give_up() if self.on_give_up else ""
        raise ServerError(f"vLLM server {self.url}{path} unreachable after {self.retries + 1} tries "
                          f"({last}){'; ' + extra if extra else ''}")

    def post(self, path: str, body: dict) -> dict:
        return self._request("POST", path, body)

    def get(self, path: str) -> dict:
        return self._request("GET", path)

    def close(self) -> None:
        self.session.close()


def _message(resp: requests.Response) -> str:
    try:
        err = resp.json()
        err = err.get("error", err) if isinstance(err, dict) else err
        msg = err.get("message", err) if isinstance(err, dict) else err
    except ValueError:
        msg = resp.text
    return " ".join(str(msg).split())[:300]
