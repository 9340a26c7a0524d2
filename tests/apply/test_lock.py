"""The apply lock over an in-memory pool API that behaves like PVE's /pools."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.apply.lock import POOL_ID, ApplyLock, LockError, LockHeldError, LockInfo, LockReleaseError


class Pools:
    def __init__(self) -> None:
        self.pools: dict[str, str] = {}

    def create(self, poolid: str, comment: str) -> None:
        if poolid in self.pools:
            raise RuntimeError(f"pool '{poolid}' already exists")
        self.pools[poolid] = comment

    def comment(self, poolid: str) -> str | None:
        return self.pools.get(poolid)

    def delete(self, poolid: str) -> None:
        del self.pools[poolid]


def test_second_apply_is_refused_with_holder_and_since(tmp_path: Path) -> None:
    api = Pools()
    first = ApplyLock(api, "lab", tmp_path / "a")
    info = first.acquire("plan-1")
    assert LockInfo.parse(api.pools[POOL_ID]) == info
    other = ApplyLock(api, "lab", tmp_path / "b")  # another checkout / machine
    with pytest.raises(LockHeldError) as err:
        other.acquire("plan-2")
    assert info.id in str(err.value) and info.holder in str(err.value) and info.since in str(err.value)
    assert not other.file.exists()
    first.release()
    assert POOL_ID not in api.pools and not first.file.exists()
    other.acquire("plan-2")


def test_local_lock_file_stops_a_second_apply_before_the_api(tmp_path: Path) -> None:
    api = Pools()
    ApplyLock(api, "lab", tmp_path).acquire("plan-1")
    api.pools.clear()
    with pytest.raises(LockHeldError, match="local"):
        ApplyLock(api, "lab", tmp_path).acquire("plan-2")
    assert api.pools == {}


def test_force_unlock_needs_the_right_id(tmp_path: Path) -> None:
    api = Pools()
    info = ApplyLock(api, "lab", tmp_path / "crashed").acquire("plan-1")
    lock = ApplyLock(api, "lab", tmp_path / "me")
    with pytest.raises(LockError, match="does not match"):
        lock.force_unlock("not-the-id")
    assert POOL_ID in api.pools
    assert lock.force_unlock(info.id) == info
    assert api.pools == {}
    with pytest.raises(LockError, match="no lock"):
        lock.force_unlock(info.id)


def test_release_leaves_someone_elses_lock_alone(tmp_path: Path) -> None:
    api = Pools()
    mine = ApplyLock(api, "lab", tmp_path)
    mine.acquire("plan-1")
    theirs = LockInfo.new("plan-x")
    api.pools[POOL_ID] = theirs.comment()  # force-unlocked and re-taken meanwhile
    mine.release()
    assert LockInfo.parse(api.pools[POOL_ID]) == theirs


class LostAnswers(Pools):
    """Every first call of each kind takes effect but its answer is lost (a 500 after
    the work was done, a dropped connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def _lose(self, kind: str) -> None:
        if kind not in self.seen:
            self.seen.add(kind)
            raise ConnectionError(f"{kind}: connection dropped")

    def create(self, poolid: str, comment: str) -> None:
        super().create(poolid, comment)
        self._lose("create")

    def delete(self, poolid: str) -> None:
        super().delete(poolid)
        self._lose("delete")


def test_lost_answers_are_not_mistaken_for_failures(tmp_path: Path) -> None:
    api = LostAnswers()
    lock = ApplyLock(api, "lab", tmp_path, delays=(0, 0))
    info = lock.acquire("plan-1")
    assert LockInfo.parse(api.pools[POOL_ID]) == info
    lock.release()
    assert api.pools == {} and not lock.file.exists()


def test_release_failure_names_the_whole_recovery_command(tmp_path: Path) -> None:
    class Down(Pools):
        def comment(self, poolid: str) -> str | None:
            if self.pools:
                raise ConnectionError("API went away")
            return None

    api = Down()
    lock = ApplyLock(api, "lab", tmp_path, unlock="provision apply stacks/lab.yaml", delays=(0, 0))
    info = lock.acquire("plan-1")
    with pytest.raises(LockReleaseError) as err:
        lock.release()
    assert f"`provision apply stacks/lab.yaml --force-unlock {info.id}`" in str(err.value)
    assert "tried 3 times" in str(err.value)
