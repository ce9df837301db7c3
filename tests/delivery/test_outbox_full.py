"""A full disk under the outbox: a retryable failure, in one reason for everyone it
stopped (issue 22, delivery 9), never a recipient lost and never one line each.

Two real full disks, neither a mock: ``/dev/full``, the kernel's device that
answers every write with ENOSPC, in place of the copies' temporary files (on
any Linux, as any user: the outbox writes each copy to ``.<name>.<pid>.tmp``
first, so a test can put the device there); and, where the test may mount one
(root), a 64 KiB tmpfs that fills up part-way through a send, as a real disk does.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, article, subscriber
from test_outbox import FOLDER, _secret, send

from digest.errors import StorageFull
from digest.sending.ledger import Ledger

_secret = _secret  # test_outbox's autouse fixture: DIGEST_SECRET set
FULL = Path("/dev/full")


def newsroom(store, count: int) -> list:
    store.save_articles(
        [article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1))]
    )
    people = [subscriber(f"reader{i:02}@example.com", name=f"Reader {i}") for i in range(count)]
    store.save_subscribers(people)
    return [store.find_subscriber(p.email) for p in people]


@pytest.mark.skipif(not FULL.exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_fails_each_copy_retryable_with_one_reason(store, settings):
    people = newsroom(store, 6)
    folder = settings.outbox_dir / FOLDER
    folder.mkdir(parents=True)
    full = people[2:]  # the disk is full from the third copy on
    for person in full:
        (folder / f".{person.id}-{person.email}.eml.{os.getpid()}.tmp").symlink_to(FULL)

    (result,) = send(store, settings).editions

    assert (result.sent, result.failed, result.in_doubt) == (2, 4, 0)
    reasons = {reason for _, reason in result.failures}
    assert len(reasons) == 1  # one reason, so the operator reads one line with a count
    (reason,) = reasons
    assert reason.startswith(StorageFull.PREFIX)
    assert str(settings.outbox_dir) in reason and "No space left on device" in reason
    assert FOLDER not in reason  # the outbox, not each file
    rows = Ledger(store, "UTC").entries(result.edition, "failed")
    assert {r.email for r in rows} == {p.email for p in full}
    assert all(r.retry for r in rows)  # retried when space is back, never given up
    assert not list(folder.glob(".*.tmp"))  # no half-written copy left behind

    (again,) = send(store, settings).editions  # space freed: the same command

    assert (again.sent, again.failed) == (4, 0)
    assert sorted(p.name for p in folder.glob("*.eml")) == sorted(
        f"{p.id}-{p.email}.eml" for p in people
    )


@pytest.fixture
def tiny_disk(tmp_path, request):
    """A 64 KiB tmpfs as ``outbox_dir``: a real file system that fills up (``options``:
    the test's own mount options, by indirect parametrisation)."""
    options = getattr(request, "param", "size=64k")
    mount = tmp_path / "outbox"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_up_mid_send_loses_nobody(sqlite_store, settings, tiny_disk):
    people = newsroom(sqlite_store, 40)
    settings.outbox_dir = tiny_disk

    (result,) = send(sqlite_store, settings).editions

    assert 0 < result.sent < 40 and result.sent + result.failed == 40
    (reason,) = {reason for _, reason in result.failures}
    assert reason.startswith(StorageFull.PREFIX) and "No space left on device" in reason

    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_disk)], check=True)
    (again,) = send(sqlite_store, settings).editions

    assert (again.sent, again.failed) == (result.failed, 0)
    files = sorted(p.name for p in (tiny_disk / FOLDER).glob("*.eml"))
    assert files == sorted(f"{p.id}-{p.email}.eml" for p in people)


@pytest.mark.parametrize("tiny_disk", ["size=64k,nr_inodes=1"], indirect=True)
def test_no_room_even_for_the_editions_folder_is_a_full_disk_not_a_wrong_setting(
    sqlite_store, settings, tiny_disk
):
    newsroom(sqlite_store, 3)
    settings.outbox_dir = tiny_disk  # its one inode is its own: nothing more can be made

    (result,) = send(sqlite_store, settings).editions  # not the ConfigError (exit 2) it was

    assert (result.sent, result.failed) == (0, 3)
    (reason,) = {reason for _, reason in result.failures}
    assert reason.startswith(StorageFull.PREFIX)

    subprocess.run(["mount", "-o", "remount,nr_inodes=100", str(tiny_disk)], check=True)
    (again,) = send(sqlite_store, settings).editions

    assert (again.sent, again.failed) == (3, 0)
