"""LocalStorage keys, errors, and the Uploader that never raises into the live path."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest

from recorder.storage import (
    InvalidKey,
    LocalStorage,
    ObjectInfo,
    StorageFull,
    StorageUnavailable,
    Uploader,
    sha256_file,
    upload_recording,
    validate_key,
)


@pytest.mark.parametrize("key", ["../x", "a/../../b", "/etc/passwd", "a//b", "a\\b", "", "a/./b",
                                 "x\x00y"])
def test_unsafe_keys_are_rejected(key: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        LocalStorage(tmp_path).path_for(key)


async def test_local_put_get_list_delete_with_checksum(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"frame" * 1000)
    storage = LocalStorage(tmp_path / "store")
    info = await storage.put_file("rec-1/tracks/a.webm", src)
    assert info == ObjectInfo("rec-1/tracks/a.webm", 5000, sha256_file(src))
    assert await storage.list("rec-1/") == ["rec-1/tracks/a.webm"]
    dest = tmp_path / "back.bin"
    await storage.get_file("rec-1/tracks/a.webm", dest)
    assert dest.read_bytes() == src.read_bytes()
    await storage.delete("rec-1/tracks/a.webm")
    assert await storage.stat("rec-1/tracks/a.webm") is None


async def test_disk_full_is_a_typed_error_and_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 100)

    def full(a: object, b: object) -> None:
        Path(str(b)).write_bytes(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr("recorder.storage.shutil.copyfile", full)
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(StorageFull) as exc:
        await storage.put_file("r/a.webm", src)
    assert exc.value.code == "storage_full"
    assert await storage.list() == []


class FlakyStorage(LocalStorage):
    """Unreachable for the first `failures` calls, then fine."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures
        self.calls = 0

    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageUnavailable("connection refused")
        return await super().put_file(key, path)


async def test_uploader_never_raises_and_retries_until_storage_is_back(tmp_path: Path) -> None:
    src = tmp_path / "seg.webm"
    src.write_bytes(b"data")
    storage = FlakyStorage(tmp_path / "store", failures=2)
    up = Uploader(storage, retry_delay=0.01)
    up.enqueue("r/seg.webm", src)  # returns at once, even though storage is down
    up.enqueue("../escape", src)  # a bad key is reported, not raised
    assert up.status.failures == 1 and isinstance(up.status.last_error, InvalidKey)
    assert await up.drain(within=5)
    assert up.status.uploaded == ["r/seg.webm"]
    assert storage.calls == 3
    assert isinstance(up.status.last_error, StorageUnavailable)
    await up.close()


async def test_uploader_gives_up_quietly_on_close_while_storage_is_down(tmp_path: Path) -> None:
    src = tmp_path / "seg.webm"
    src.write_bytes(b"data")
    up = Uploader(FlakyStorage(tmp_path / "store", failures=10**6), retry_delay=0.01)
    up.enqueue("r/seg.webm", src)
    assert not await up.drain(within=0.2)
    assert up.status.pending == 1 and up.status.failures >= 2
    await up.close()
    await asyncio.sleep(0)


async def test_upload_recording_puts_the_manifest_last(tmp_path: Path) -> None:
    d = tmp_path / "rec"
    (d / "tracks").mkdir(parents=True)
    (d / "manifest.json").write_text("{}")
    (d / "tracks" / "a.000.webm").write_bytes(b"a")
    (d / "events.jsonl").write_text("")
    keys = await upload_recording(LocalStorage(tmp_path / "store"), d, "rec")
    assert keys[-1] == "rec/manifest.json" and len(keys) == 3
