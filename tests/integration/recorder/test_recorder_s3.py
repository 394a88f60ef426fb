"""S3Storage against a real S3-compatible HTTP server started by the test.

Why moto's server mode and not MinIO: no MinIO binary is available from the
package registries this project can reach (Debian has no `minio` package and
PyPI carries only the MinIO *client*), while `moto[server]` is on PyPI and
`ThreadedMotoServer` serves the S3 REST API over real HTTP on 127.0.0.1 — so
boto3 goes through its whole stack (signing, multipart, checksum headers,
ETags) exactly as against MinIO or AWS. moto enforces S3's 5 MiB minimum part
size; the fixture lowers it so multipart tests stay small and fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.storage import (
    ChecksumMismatch,
    RetryPolicy,
    S3Storage,
    StorageUnavailable,
    Uploader,
    upload_recording,
)

PART = 256 * 1024


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    import moto.s3.models as s3_models
    import moto.server  # noqa: F401  (a test dependency: missing means a broken install, not a skip)
    from moto.server import ThreadedMotoServer

    saved = s3_models.S3_UPLOAD_PART_MIN_SIZE
    s3_models.S3_UPLOAD_PART_MIN_SIZE = PART
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        s3_models.S3_UPLOAD_PART_MIN_SIZE = saved


@pytest.fixture
def s3(s3_endpoint: str, tmp_path: Path, request: pytest.FixtureRequest) -> S3Storage:
    bucket = f"rec-{abs(hash(request.node.name)) % 10**8}"
    storage = S3Storage(bucket, endpoint_url=s3_endpoint, access_key="test", secret_key="test",
                        prefix="tongbu", part_size=PART, state_dir=tmp_path / "uploads",
                        retry=RetryPolicy(attempts=3, base_delay=0.01))
    storage._client.create_bucket(Bucket=bucket)
    return storage


def _file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


async def test_single_put_is_verified_and_round_trips(s3: S3Storage, tmp_path: Path) -> None:
    src = _file(tmp_path / "a.webm", 10_000)
    info = await s3.put_file("rec-1/tracks/a.000.webm", src)
    assert info.sha256 == hashlib.sha256(src.read_bytes()).hexdigest() and info.size == 10_000
    raw = s3._client.head_object(Bucket=s3.bucket, Key="tongbu/rec-1/tracks/a.000.webm")
    assert raw["Metadata"]["sha256"] == info.sha256
    back = tmp_path / "back.webm"
    await s3.get_file("rec-1/tracks/a.000.webm", back)
    assert back.read_bytes() == src.read_bytes()
    assert await s3.list("rec-1/") == ["rec-1/tracks/a.000.webm"]
    await s3.delete("rec-1/tracks/a.000.webm")
    assert await s3.stat("rec-1/tracks/a.000.webm") is None


async def test_interrupted_multipart_upload_resumes_without_resending_parts(
        s3: S3Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _file(tmp_path / "big.webm", 5 * PART + 1234)  # 6 parts
    sent: list[int] = []
    original = S3Storage._upload_part

    async def flaky(self: S3Storage, state: object, path: Path, n: int) -> dict[str, str]:
        if n == 4 and not any(x == -1 for x in sent):
            sent.append(-1)
            raise KeyboardInterrupt  # the process dies mid-upload
        sent.append(n)
        return await original(self, state, path, n)  # type: ignore[arg-type]
    monkeypatch.setattr(S3Storage, "_upload_part", flaky)
    with pytest.raises(KeyboardInterrupt):
        await s3.put_file("rec-1/tracks/big.000.webm", src)
    assert sent == [1, 2, 3, -1]
    assert list((tmp_path / "uploads").glob("*.upload.json"))  # resumable state kept
    # a new process (new client), same state dir: only parts 4..6 go over the wire
    again = S3Storage(s3.bucket, endpoint_url=s3._client.meta.endpoint_url, access_key="test",
                      secret_key="test", prefix="tongbu", part_size=PART,
                      state_dir=tmp_path / "uploads")
    info = await again.put_file("rec-1/tracks/big.000.webm", src)
    assert sent == [1, 2, 3, -1, 4, 5, 6]
    assert info.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    head = again._client.head_object(Bucket=s3.bucket, Key="tongbu/rec-1/tracks/big.000.webm")
    assert head["ETag"].strip('"').endswith("-6") and head["ContentLength"] == src.stat().st_size
    assert not list((tmp_path / "uploads").glob("*.upload.json"))


async def test_changed_file_does_not_resume_a_stale_upload(s3: S3Storage, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    src = _file(tmp_path / "big.webm", 3 * PART)
    original = S3Storage._upload_part
    calls = {"n": 0}

    async def dying(self: S3Storage, state: object, path: Path, n: int) -> dict[str, str]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return await original(self, state, path, n)  # type: ignore[arg-type]
    monkeypatch.setattr(S3Storage, "_upload_part", dying)
    with pytest.raises(KeyboardInterrupt):
        await s3.put_file("r/x.webm", src)
    _file(src, 3 * PART)  # new content, same size
    info = await s3.put_file("r/x.webm", src)
    assert info.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()


async def test_tampered_part_is_detected(s3: S3Storage, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    src = _file(tmp_path / "x.webm", 1000)
    real_put = s3._client.put_object

    def corrupting_put(**kw: object) -> object:
        kw.pop("ChecksumSHA256", None)  # a broken proxy that also drops the header
        body = kw["Body"]
        assert isinstance(body, bytes)
        kw["Body"] = b"X" + body[1:]
        return real_put(**kw)
    monkeypatch.setattr(s3._client, "put_object", corrupting_put)
    with pytest.raises(ChecksumMismatch):
        await s3.put_file("r/x.webm", src)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_storage_is_a_typed_error_after_retries(tmp_path: Path) -> None:
    down = S3Storage("rec", endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                     access_key="a", secret_key="b", connect_timeout=0.5,
                     retry=RetryPolicy(attempts=3, base_delay=0.01))
    src = _file(tmp_path / "a.webm", 100)
    with pytest.raises(StorageUnavailable) as exc:
        await down.put_file("r/a.webm", src)
    assert exc.value.code == "storage_unavailable" and "unreachable" in exc.value.message
    up = Uploader(down, retry_delay=0.01)
    up.enqueue("r/a.webm", src)  # the live path only enqueues: never raises
    for _ in range(100):
        if up.status.last_error is not None:
            break
        await asyncio.sleep(0.05)
    assert isinstance(up.status.last_error, StorageUnavailable) and up.status.pending == 1
    await up.close()


async def test_whole_recording_uploads_to_s3(s3: S3Storage, lesson_dir: Path) -> None:
    keys = await upload_recording(s3, lesson_dir, "lesson-ok")
    assert keys[-1] == "lesson-ok/manifest.json"
    assert sorted(await s3.list("lesson-ok/")) == sorted(keys)
    assert any(k.endswith(".webm") for k in keys)
