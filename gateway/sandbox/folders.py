"""Deleting inside a chat's folders from the host, whatever user code left there.

A chat's `workspace/` and `state/` hold anything user code made: symlinks to any host path, trees
thousands of levels deep, names that are not UTF-8. So the walk here is iterative (no recursion
limit), works only relative to descriptors it opened with O_NOFOLLOW (a symlink is removed, never
entered), holds at most two descriptors at a time however deep it goes, and checks the identity
(st_dev, st_ino) of every parent it climbs back to through "..", starting over from the top when a
directory was moved under it.
"""

import contextlib
import errno
import os
from pathlib import Path

from gateway.sandbox.files import DIR_FLAGS

# Starting over is the answer to a directory moved during the walk; only code still running in the
# sandbox could keep doing that, and past this many restarts we give up rather than spin.
_MAX_RESTARTS = 100


class FolderNotCleared(OSError):
    """The tree kept changing under the walk, or held another file system."""


def remove_tree(path: Path) -> None:
    """Delete `path` and everything below it; nothing to do when it does not exist.

    `path` itself must be one of the gateway's own folders (DATA_DIR/chats/<id>), which no sandbox
    can replace; below it, nothing is trusted.
    """
    try:
        clear(path)
    except FileNotFoundError:
        return
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)


def clear(folder: Path) -> None:
    """Delete everything inside `folder`, not the folder itself (a sandbox's mount point)."""
    # The rule: opened once by its own path (a folder the sandbox cannot replace), without
    # following a link; everything below is reached relative to descriptors.
    top = os.open(folder, DIR_FLAGS)
    try:
        _empty(top)
    finally:
        os.close(top)


def empty(top: int) -> None:
    """Delete everything inside the folder open as `top` (a descriptor the caller opened with
    O_NOFOLLOW, relative to a folder it trusts)."""
    _empty(top)


def _empty(top: int) -> None:
    device = os.fstat(top).st_dev
    for _ in range(_MAX_RESTARTS):
        if _empty_once(top, device):
            return
    raise FolderNotCleared(errno.EBUSY, "the folder kept changing while it was being deleted")


def _empty_once(top: int, device: int) -> bool:
    """Depth first from `top`; False when a directory moved under the walk (start over)."""
    current = os.dup(top)
    # The way back up: for each directory entered, its name and its parent's identity.
    trail: list[tuple[str, tuple[int, int]]] = []
    try:
        while True:
            child = _delete_entries(current)
            if child is not None:
                try:
                    below = os.open(child, DIR_FLAGS, dir_fd=current)
                except OSError as e:
                    # Replaced by a link or file, or gone, since it was read: read again.
                    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                        continue
                    raise
                if os.fstat(below).st_dev != device:
                    os.close(below)
                    raise FolderNotCleared(errno.EXDEV, f"'{child}' is another file system")
                trail.append((child, _identity(current)))
                os.close(current)
                current = below
                continue
            if not trail:
                return True
            name, parent_identity = trail.pop()
            parent = os.open("..", DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = parent
            if _identity(parent) != parent_identity:
                return False
            try:
                os.rmdir(name, dir_fd=current)
            except OSError as e:
                # Gone or refilled since it was emptied: the next read of the parent sees to it.
                if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise
    finally:
        os.close(current)


def _delete_entries(directory: int) -> str | None:
    """Unlink what `directory` holds, removing empty subdirectories; the name of the first
    subdirectory that is not empty (to go into), or None once the directory is empty."""
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    os.rmdir(entry.name, dir_fd=directory)
                else:
                    os.unlink(entry.name, dir_fd=directory)
            except FileNotFoundError:
                continue
            except OSError as e:
                # A directory that is not empty, or an entry that became one since it was read.
                if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                    return entry.name
                raise
    return None


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


# Handing a tree to a new owner is for chats made before sandboxes had a uid each; their trees
# were made by ordinary code. Past these, the walk gives up rather than chase a pathological tree.
_CHOWN_MAX_DEPTH = 128
_CHOWN_MAX_ENTRIES = 1_000_000


def chown_tree(folder: Path, uid: int) -> None:
    """Make `uid` (and the group of that number) own `folder` and everything below it, changing
    links themselves and never following one. The sandbox using the folder must be stopped.
    Raises FolderNotCleared past the depth or entry cap."""
    top = os.open(folder, DIR_FLAGS)
    os.fchown(top, uid, uid)
    device = os.fstat(top).st_dev
    # One open directory and its scandir iterator per level: depth first, fds bounded by depth.
    stack = [(top, os.scandir(top))]
    seen = 0
    try:
        while stack:
            directory, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                entries.close()
                os.close(directory)
                stack.pop()
                continue
            seen += 1
            if seen > _CHOWN_MAX_ENTRIES:
                raise FolderNotCleared(errno.EFBIG, f"more than {_CHOWN_MAX_ENTRIES} entries")
            os.chown(entry.name, uid, uid, dir_fd=directory, follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False):
                continue
            if len(stack) >= _CHOWN_MAX_DEPTH:
                raise FolderNotCleared(errno.ELOOP, f"deeper than {_CHOWN_MAX_DEPTH} folders")
            below = os.open(entry.name, DIR_FLAGS, dir_fd=directory)
            if os.fstat(below).st_dev != device:
                os.close(below)
                raise FolderNotCleared(errno.EXDEV, f"'{entry.name}' is another file system")
            stack.append((below, os.scandir(below)))
    finally:
        for directory, entries in stack:
            entries.close()
            os.close(directory)
