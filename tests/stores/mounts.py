"""Real filesystem faults for store tests: a small tmpfs to fill, a read-only bind mount, and an
ext4 image that goes read-only under open files (as a filesystem does after an error).

Each helper mounts, yields, and unmounts in a ``finally``. They need root (the tests run as
root here and in CI); where the machine refuses a mount, ``MountRefused`` is raised and the
test falls back to the simulation its docstring names.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


class MountRefused(Exception):
    """The machine would not mount (not root, or no permission in this container)."""


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)


def _mount(*command: str) -> None:
    try:
        _run(*command)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise MountRefused(f"{' '.join(command)}: {detail.strip()}") from error


def _unmount(point: Path) -> None:
    try:
        _run("umount", str(point))
    except subprocess.CalledProcessError:
        _run("umount", "-l", str(point))  # still busy: detach it, it goes once released


@contextlib.contextmanager
def tmpfs(point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "1m") mounted at ``point``."""
    point.mkdir(parents=True, exist_ok=True)
    _mount("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point))
    try:
        yield point
    finally:
        _unmount(point)


def resize(point: Path, size: str) -> None:
    """Give a mounted tmpfs another size (the cause of a full disk goes away)."""
    _run("mount", "-o", f"remount,size={size}", str(point))


@contextlib.contextmanager
def read_only_view(source: Path, point: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``point`` (a bind mount remounted read-only)."""
    point.mkdir(parents=True, exist_ok=True)
    _mount("mount", "--bind", str(source), str(point))
    try:
        _mount("mount", "-o", "remount,bind,ro", str(point))
        yield point
    finally:
        _unmount(point)


class Ext4:
    """An ext4 image on a loop device, mounted with ``errors=remount-ro``."""

    def __init__(self, image: Path, point: Path) -> None:
        self.image = image
        self.point = point

    def mount(self) -> None:
        _mount("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.point))

    @property
    def trigger(self) -> Path:
        """Writing "1" here makes the filesystem read-only at once, under open files (ext4's
        ``trigger_fs_error``). What was not on disk yet is lost then, as in a crash: sync
        first (the test controls the moment the disk fails)."""
        device = subprocess.run(
            ["findmnt", "-no", "SOURCE", str(self.point)], capture_output=True, text=True
        ).stdout.strip()
        return Path("/sys/fs/ext4") / os.path.basename(device) / "trigger_fs_error"

    def repair(self) -> None:
        """Unmount, check and repair the filesystem, mount it again (writable)."""
        _unmount(self.point)
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True, timeout=60)
        self.mount()


@contextlib.contextmanager
def ext4(tmp_path: Path, size: str = "16M") -> Iterator[Ext4]:
    image = tmp_path / "disk.img"
    point = tmp_path / "disk"
    point.mkdir()
    try:
        _run("truncate", "-s", size, str(image))
        _run("mkfs.ext4", "-q", "-F", str(image))
    except (OSError, subprocess.CalledProcessError) as error:
        raise MountRefused(f"cannot make an ext4 image: {error}") from error
    disk = Ext4(image, point)
    disk.mount()
    try:
        yield disk
    finally:
        if os.path.ismount(point):
            _unmount(point)
