"""Downloading a job's weights (`Client.download_weights`), checked against the server's
SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from app.client.errors import ChecksumMismatch, ConnectionFailed, error_from_response
from app.client.models import Weights

if TYPE_CHECKING:
    from app.client.client import Client


def download_weights(client: Client, job_id: str, path: str | os.PathLike[str] | None,
                     checkpoint: str | int | None) -> Weights:
    """`Client.download_weights`: the bytes, or the file written atomically at `path`."""
    params = {"checkpoint": str(checkpoint)} if checkpoint is not None else {}
    url = f"/v1/jobs/{job_id}/weights"
    try:
        with client._http.stream("GET", url, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            expected = (response.headers.get("X-Checksum-SHA256") or "").lower()
            digest, size = hashlib.sha256(), 0
            if path is None:
                chunks = []
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    size += len(chunk)
                    chunks.append(chunk)
                _check_sha(expected, digest.hexdigest())
                return Weights(digest.hexdigest(), size, data=b"".join(chunks))
            target = Path(os.fspath(path))
            fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                _check_sha(expected, digest.hexdigest())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return Weights(digest.hexdigest(), size, path=target)
    except httpx.TransportError as exc:
        raise ConnectionFailed(f"downloading the weights of job {job_id} from "
                               f"{client.base_url} failed: {exc or type(exc).__name__}"
                               ) from exc


def _check_sha(expected: str, actual: str) -> None:
    if not expected:
        raise ChecksumMismatch("the server sent no X-Checksum-SHA256 to check the weights by")
    if expected != actual:
        raise ChecksumMismatch(f"downloaded weights have SHA-256 {actual}, the server said "
                               f"{expected}")
