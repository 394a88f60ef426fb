"""Where finished recording files go: a local directory or an S3-compatible bucket.

Both backends speak the small `Storage` protocol (put/get/stat/list/delete of
whole files by key). The recorder always writes to local disk first (a live
lesson must never wait on the network); files are uploaded afterwards by an
`Uploader` that retries with backoff and never raises into the live path —
its failures are kept as typed errors in its status instead.

Keys look like `<recording_id>/tracks/<track>.000.webm`. They are validated
(no `..`, no absolute paths, no backslashes or NUL) so a key can never escape
the local root or address another recording.

S3 uploads are **checksummed and resumable**: the whole file's SHA-256 is
stored as object metadata and checked with a HEAD after upload; multipart
uploads send each part with its SHA-256 (`x-amz-checksum-sha256`), verify the
part ETag (MD5) and the final multipart ETag (MD5 of the part MD5s + "-N"),
and keep a small state file (upload id + finished parts) so an interrupted
upload continues where it stopped instead of starting again.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar, runtime_checkable

from server.errors import BadRequest, TongbuError

log = logging.getLogger(__name__)
T = TypeVar("T")
MIB = 1024 * 1024


class StorageError(TongbuError):
    """Storage failed permanently (bad credentials, missing bucket...)."""

    code = "storage_error"
    status = 502


class StorageUnavailable(StorageError):
    """Storage could not be reached or answered 5xx: worth retrying."""

    code = "storage_unavailable"
    status = 503


class StorageFull(StorageError):
    """No space left (local ENOSPC/EDQUOT, S3 quota)."""

    code = "storage_full"
    status = 507


class ChecksumMismatch(StorageError):
    """What the storage holds is not what we sent."""

    code = "storage_checksum_mismatch"


class InvalidKey(BadRequest):
    code = "invalid_storage_key"


def validate_key(key: str) -> str:
    """Return the key if it is a safe relative POSIX path, else raise `InvalidKey`."""
    if not key or len(key) > 1024 or "\x00" in key or "\\" in key:
        raise InvalidKey(f"invalid storage key {key!r}")
    p = PurePosixPath(key)
    if p.is_absolute() or key.startswith("/") or any(part in ("..", ".", "") for part in
                                                     key.split("/")):
        raise InvalidKey(f"storage key must be relative without '..': {key!r}")
    return key


def sha256_file(path: Path, chunk: int = MIB) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None = None


@runtime_checkable
class Storage(Protocol):
    """Whole-file object storage by key."""

    async def put_file(self, key: str, path: Path) -> ObjectInfo: ...
    async def get_file(self, key: str, dest: Path) -> None: ...
    async def stat(self, key: str) -> ObjectInfo | None: ...
    async def list(self, prefix: str = "") -> list[str]: ...
    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient storage errors."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** attempt)))


async def with_retries(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    """Run `fn`, retrying `StorageUnavailable`; other errors are permanent and raise at once."""
    for attempt in range(policy.attempts):
        try:
            return await fn()
        except StorageUnavailable as exc:
            if attempt + 1 >= policy.attempts:
                raise
            delay = policy.delay(attempt)
            log.warning("storage retry", extra={"what": what, "attempt": attempt + 1,
                                                 "delay": round(delay, 2), "error": exc.message})
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _os_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"storage full while {what}: {exc.strerror}")
    if exc.errno in (errno.EIO, errno.ETIMEDOUT, errno.EAGAIN, errno.ESTALE):
        return StorageUnavailable(f"storage unavailable while {what}: {exc.strerror}")
    return StorageError(f"storage error while {what}: {exc}")


class LocalStorage:
    """Files under a root directory (embedded default: `settings.storage_dir`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        root = self.root.resolve()
        if root not in path.parents:  # belt and braces: symlinks inside the root
            raise InvalidKey(f"storage key escapes the root: {key!r}")
        return path

    def _put(self, key: str, src: Path) -> ObjectInfo:
        dest = self.path_for(key)
        if dest == src.resolve():
            return ObjectInfo(key, dest.stat().st_size, sha256_file(dest))
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            digest_src, digest_tmp = sha256_file(src), sha256_file(tmp)
            if digest_src != digest_tmp:
                raise ChecksumMismatch(f"copy of {key} differs from its source")
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _os_error(exc, f"writing {key}") from exc
        return ObjectInfo(key, dest.stat().st_size, digest_src)

    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        return await asyncio.to_thread(self._put, key, path)

    async def get_file(self, key: str, dest: Path) -> None:
        src = self.path_for(key)
        if not src.exists():
            raise StorageError(f"no such object {key}")
        try:
            await asyncio.to_thread(self._copy, src, dest)
        except OSError as exc:
            raise _os_error(exc, f"reading {key}") from exc

    @staticmethod
    def _copy(src: Path, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)
        if not path.is_file():
            return None
        return ObjectInfo(key, path.stat().st_size, await asyncio.to_thread(sha256_file, path))

    async def list(self, prefix: str = "") -> list[str]:
        base = self.root.resolve()
        if not base.exists():
            return []
        keys = [p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()
                and not p.name.startswith(".")]
        return sorted(k for k in keys if k.startswith(prefix))

    async def delete(self, key: str) -> None:
        try:
            self.path_for(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(exc, f"deleting {key}") from exc


_FULL_CODES = {"EntityTooLarge", "QuotaExceeded", "InsufficientStorage", "XMinioStorageFull",
               "XMinioAdminBucketQuotaExceeded"}
_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                    "RequestTimeTooSkewed", "Throttling"}


def _s3_error(exc: Exception, what: str) -> StorageError:
    """Map botocore exceptions to the storage error hierarchy."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        msg = f"S3 {code or status} while {what}: {err.get('Message', exc)}"
        if code in _FULL_CODES or status == 507:
            return StorageFull(msg)
        if code in _TRANSIENT_CODES or status >= 500:
            return StorageUnavailable(msg)
        return StorageError(msg)
    if isinstance(exc, ConnectionError | BotoCoreError):
        return StorageUnavailable(f"S3 unreachable while {what}: {exc}")
    return StorageError(f"S3 failure while {what}: {exc}")


@dataclass
class _UploadState:
    key: str
    upload_id: str
    size: int
    sha256: str
    part_size: int
    parts: dict[int, dict[str, str]] = field(default_factory=dict)  # n -> {etag, md5}


class S3Storage:
    """An S3-compatible bucket through boto3 (run in threads; boto3 is blocking).

    boto3 rather than aioboto3: one well-known dependency, and uploads are
    large sequential transfers where a thread per call costs nothing.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        part_size: int = 8 * MIB,
        state_dir: Path | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self.state_dir = state_dir
        self.retry = retry or RetryPolicy()
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(connect_timeout=connect_timeout, read_timeout=60,
                          retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def _k(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        async def attempt() -> T:
            try:
                return await asyncio.to_thread(fn)
            except StorageError:
                raise
            except Exception as exc:
                raise _s3_error(exc, what) from exc
        return await with_retries(attempt, self.retry, what)

    # -- upload -------------------------------------------------------------------------
    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        full = self._k(key)
        size = (await asyncio.to_thread(path.stat)).st_size
        digest = await asyncio.to_thread(sha256_file, path)
        if size <= self.part_size:
            await self._put_single(full, path, digest)
        else:
            await self._put_multipart(full, path, size, digest)
        info = await self.stat(key)
        if info is None or info.size != size or info.sha256 != digest:
            raise ChecksumMismatch(f"{key}: stored object does not match the file "
                                   f"(size {info.size if info else None} vs {size})")
        return info

    async def _put_single(self, full: str, path: Path, digest: str) -> None:
        data = await asyncio.to_thread(path.read_bytes)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        resp = await self._call(f"uploading {full}", lambda: self._client.put_object(
            Bucket=self.bucket, Key=full, Body=data, Metadata={"sha256": digest},
            ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode()))
        if str(resp.get("ETag", "")).strip('"') != md5:
            raise ChecksumMismatch(f"{full}: ETag {resp.get('ETag')} != MD5 {md5}")

    def _state_path(self, full: str) -> Path | None:
        if self.state_dir is None:
            return None
        name = hashlib.sha256(f"{self.bucket}/{full}".encode()).hexdigest()[:32]
        return self.state_dir / f"{name}.upload.json"

    def _load_state(self, full: str, size: int, digest: str) -> _UploadState | None:
        sp = self._state_path(full)
        if sp is None or not sp.exists():
            return None
        try:
            raw = json.loads(sp.read_text())
            state = _UploadState(raw["key"], raw["upload_id"], raw["size"], raw["sha256"],
                                 raw["part_size"], {int(k): v for k, v in raw["parts"].items()})
        except (ValueError, KeyError):
            return None
        if (state.key, state.size, state.sha256, state.part_size) != (full, size, digest,
                                                                       self.part_size):
            return None  # the file changed: that upload is of no use
        return state

    def _save_state(self, state: _UploadState) -> None:
        sp = self._state_path(state.key)
        if sp is None:
            return
        sp.parent.mkdir(parents=True, exist_ok=True)
        tmp = sp.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": state.key, "upload_id": state.upload_id,
                                   "size": state.size, "sha256": state.sha256,
                                   "part_size": state.part_size,
                                   "parts": {str(k): v for k, v in state.parts.items()}}))
        os.replace(tmp, sp)

    async def _put_multipart(self, full: str, path: Path, size: int, digest: str) -> None:
        state = self._load_state(full, size, digest)
        if state is not None:
            # Trust only parts the server still has with the ETag we recorded.
            upload_id = state.upload_id
            try:
                listed = await self._call(f"listing parts of {full}", lambda: self._client.
                                          list_parts(Bucket=self.bucket, Key=full,
                                                     UploadId=upload_id, MaxParts=10000))
                present = {p["PartNumber"]: str(p["ETag"]).strip('"')
                           for p in listed.get("Parts", [])}
                state.parts = {n: v for n, v in state.parts.items() if present.get(n) == v["etag"]}
                log.info("resuming multipart upload", extra={"key": full,
                                                              "parts_done": len(state.parts)})
            except StorageError:
                state = None  # upload expired/aborted on the server: start over
        if state is None:
            resp = await self._call(f"starting upload of {full}", lambda: self._client.
                                    create_multipart_upload(Bucket=self.bucket, Key=full,
                                                            Metadata={"sha256": digest},
                                                            ChecksumAlgorithm="SHA256"))
            state = _UploadState(full, resp["UploadId"], size, digest, self.part_size)
            self._save_state(state)
        count = (size + self.part_size - 1) // self.part_size
        for n in range(1, count + 1):
            if n in state.parts:
                continue
            state.parts[n] = await self._upload_part(state, path, n)
            self._save_state(state)
        parts = [{"PartNumber": n, "ETag": f'"{state.parts[n]["etag"]}"',
                  "ChecksumSHA256": state.parts[n]["sha256"]} for n in range(1, count + 1)]
        resp = await self._call(f"completing upload of {full}", lambda: self._client.
                                complete_multipart_upload(Bucket=self.bucket, Key=full,
                                                          UploadId=state.upload_id,
                                                          MultipartUpload={"Parts": parts}))
        md5s = b"".join(bytes.fromhex(state.parts[n]["md5"]) for n in range(1, count + 1))
        expected = f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{count}"
        if str(resp.get("ETag", "")).strip('"') != expected:
            raise ChecksumMismatch(f"{full}: multipart ETag {resp.get('ETag')} != {expected}")
        sp = self._state_path(full)
        if sp is not None:
            sp.unlink(missing_ok=True)

    async def _upload_part(self, state: _UploadState, path: Path, n: int) -> dict[str, str]:
        def read() -> bytes:
            with open(path, "rb") as f:
                f.seek((n - 1) * state.part_size)
                return f.read(state.part_size)
        data = await asyncio.to_thread(read)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        resp = await self._call(f"uploading part {n} of {state.key}", lambda: self._client.
                                upload_part(Bucket=self.bucket, Key=state.key,
                                            UploadId=state.upload_id, PartNumber=n, Body=data,
                                            ChecksumSHA256=sha))
        etag = str(resp.get("ETag", "")).strip('"')
        if etag != md5:
            raise ChecksumMismatch(f"{state.key} part {n}: ETag {etag} != MD5 {md5}")
        return {"etag": etag, "md5": md5, "sha256": sha}

    # -- read / manage ------------------------------------------------------------------
    async def stat(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        full = self._k(key)

        def head() -> dict[str, Any] | None:
            try:
                return dict(self._client.head_object(Bucket=self.bucket, Key=full))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        resp = await self._call(f"stat {full}", head)
        if resp is None:
            return None
        return ObjectInfo(key, int(resp["ContentLength"]),
                          resp.get("Metadata", {}).get("sha256"))

    async def get_file(self, key: str, dest: Path) -> None:
        full = self._k(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        await self._call(f"downloading {full}",
                         lambda: self._client.download_file(self.bucket, full, str(tmp)))
        info = await self.stat(key)
        if info is not None and info.sha256 and info.sha256 != await asyncio.to_thread(
                sha256_file, tmp):
            tmp.unlink(missing_ok=True)
            raise ChecksumMismatch(f"{key}: downloaded bytes do not match the stored SHA-256")
        os.replace(tmp, dest)

    async def list(self, prefix: str = "") -> list[str]:
        trail = "/" if prefix.endswith("/") else ""
        full = self._k(prefix.rstrip("/")) + trail if prefix.rstrip("/") else self.prefix

        def run() -> list[str]:
            keys: list[str] = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full)
            for page in pages:
                keys.extend(o["Key"] for o in page.get("Contents", []))
            return keys
        keys = await self._call(f"listing {full}", run)
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(k[strip:] for k in keys)

    async def presigned_get(self, key: str, ttl: int) -> str:
        """A time-limited GET URL (S3 serves Range requests itself) for the player."""
        full = self._k(key)
        return await asyncio.to_thread(
            self._client.generate_presigned_url, "get_object",
            Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=ttl)

    async def delete(self, key: str) -> None:
        full = self._k(key)
        await self._call(f"deleting {full}",
                         lambda: self._client.delete_object(Bucket=self.bucket, Key=full))


@dataclass
class UploadStatus:
    uploaded: list[str] = field(default_factory=list)
    pending: int = 0
    failures: int = 0
    last_error: TongbuError | None = None


class Uploader:
    """Uploads files in the background; `enqueue` never raises and never blocks.

    A failing storage (full, unreachable) only shows in `status` and the log;
    the recording keeps writing to local disk, and the job is retried with a
    growing delay until `close()`.
    """

    def __init__(self, storage: Storage, *, retry_delay: float = 1.0,
                 max_retry_delay: float = 60.0) -> None:
        self.storage = storage
        self.status = UploadStatus()
        self._queue: asyncio.Queue[tuple[str, Path, int]] = asyncio.Queue()
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._task: asyncio.Task[None] | None = None
        self._delayed: set[asyncio.Task[None]] = set()
        self._closed = False

    def enqueue(self, key: str, path: Path) -> None:
        if self._closed:  # the caller uploads what is left itself (upload_recording)
            return
        try:
            validate_key(key)
        except InvalidKey as exc:
            self.status.failures += 1
            self.status.last_error = exc
            log.error("upload rejected", extra={"key": key, "error": exc.message})
            return
        self.status.pending += 1
        self._queue.put_nowait((key, path, 0))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            key, path, attempt = await self._queue.get()
            try:
                await self.storage.put_file(key, path)
            except StorageError as exc:
                self.status.failures += 1
                self.status.last_error = exc
                delay = min(self._max_retry_delay, self._retry_delay * 2 ** attempt)
                log.warning("upload failed, will retry", extra={"key": key, "code": exc.code,
                                                                 "delay": delay})
                self._later(delay, (key, path, attempt + 1))
            except Exception as exc:  # never let the worker die: keep the error visible
                self.status.failures += 1
                self.status.last_error = StorageError(f"upload of {key} failed: {exc}")
                log.exception("upload crashed", extra={"key": key})
                self._later(self._max_retry_delay, (key, path, attempt + 1))
            else:
                self.status.pending -= 1
                self.status.uploaded.append(key)
            finally:
                self._queue.task_done()

    def _later(self, delay: float, job: tuple[str, Path, int]) -> None:
        if self._closed:
            return

        async def requeue() -> None:
            await asyncio.sleep(delay)
            if not self._closed:
                self._queue.put_nowait(job)
        task = asyncio.get_running_loop().create_task(requeue())
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def drain(self, within: float, *, until_error: bool = False) -> bool:
        """Wait until everything is uploaded (True) or `within` seconds pass (False).

        `until_error`: give up at the first failed attempt too (storage down: the
        caller reports it at once instead of waiting out the backoff).
        """
        deadline = time.monotonic() + within
        while self.status.pending > 0:
            if time.monotonic() >= deadline:
                return False
            if until_error and self.status.last_error is not None:
                return False
            await asyncio.sleep(0.05)
        return True

    async def close(self, within: float = 5.0) -> None:
        """Stop uploading; a transfer stuck in a thread is left behind after `within` s."""
        self._closed = True
        tasks = [*self._delayed, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=within)
        self._delayed.clear()
        self._task = None


async def upload_recording(storage: Storage, directory: Path, recording_id: str,
                           skip: set[str] | None = None) -> list[str]:
    """Upload every file of a recording directory (media first, manifest last).

    `skip`: keys already uploaded during the recording (closed segments); the
    manifest and event log are always uploaded again, they changed since.
    """
    def scan() -> list[Path]:
        return [p for p in sorted(directory.rglob("*"))
                if p.is_file() and not p.name.startswith(".")]
    files = await asyncio.to_thread(scan)
    files.sort(key=lambda p: p.name == "manifest.json")
    keys = []
    for p in files:
        key = f"{recording_id}/{p.relative_to(directory).as_posix()}"
        if skip and key in skip:
            keys.append(key)
            continue
        await storage.put_file(key, p)
        keys.append(key)
    return keys
