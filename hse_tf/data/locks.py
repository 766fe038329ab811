"""One writer per output: a lock file holding the writer's pid, taken before a command writes
an output that another process could be writing too (two exports into one folder, two index
builds into one --out). The second is refused in one line naming the holder.

The lock is an flock on the file, so it is released when the holder exits, however it exits; a
lock file left by a killed process is taken over. The file is removed on release.
"""

import contextlib
import fcntl
import os


class LockedError(ValueError):
    """Another process is writing the same output (names the lock file and its pid)."""


@contextlib.contextmanager
def output_lock(path, what):
    """Holds the lock file `path` for the block; LockedError if another process holds it.
    `what` says what is being written (for the message)."""
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise LockedError(f"{path}: {what} is being written by another process (pid "
                              f"{holder}); wait for it to finish, or remove this file if no "
                              f"such process runs") from None
        # The file may have been removed (released) between our open and our lock: then this
        # lock is on a file nobody else sees; take the one at `path` again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        os.close(fd)
