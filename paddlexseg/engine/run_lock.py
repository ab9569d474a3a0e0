"""One training run per ``save_dir``: a lock file with the owner's pid, and clean-up of what dead
runs left behind.

``<save_dir>/run.lock`` is held with ``fcntl.flock`` for the life of the run and holds the
owner's pid and host. The kernel releases the lock when its process dies (even ``kill -9``),
so a second run refuses a live owner with a clear message and takes over a dead one's lock.
The file stays after the run (deleting it could let two runs lock two different files).
"""
import glob
import os
import re
import shutil
import socket
import time

from ..tool_errors import RunError

try:
    import fcntl
except ImportError:  # not POSIX: the lock degrades to the pid check below
    fcntl = None

__all__ = ["SaveDirLock", "default_save_dir", "sweep_stale_temp", "pid_alive"]

LOCK_NAME = "run.lock"


def default_save_dir(config_path, root="output"):
    """``output/<config file name without .yml>``: runs of different configs never share one."""
    name = os.path.splitext(os.path.basename(config_path))[0]
    return os.path.join(root, name)


def pid_alive(pid):
    """True if a process ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read_owner(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            fields = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
        return int(fields.get("pid", 0)), fields.get("host", ""), fields.get("started", "")
    except (OSError, ValueError):
        return 0, "", ""


class SaveDirLock:
    """Exclusive use of ``save_dir`` by this process; use as a context manager or
    :meth:`acquire` / :meth:`release`.

    Raises:
        RunError: another live process holds the lock (the message names it and the folder).
    """

    def __init__(self, save_dir, logger=None):
        self.save_dir = save_dir
        self.path = os.path.join(save_dir, LOCK_NAME)
        self.logger = logger
        self._fd = None

    def acquire(self):
        os.makedirs(self.save_dir, exist_ok=True)
        pid, host, started = _read_owner(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = self._try_lock(fd, pid, host)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            raise RunError(f"{self.save_dir} is in use by another training run (pid {pid} on "
                           f"{host or 'this host'}, started {started or 'at an unknown time'}, "
                           f"lock {self.path}); wait for it to finish or pass another --save_dir")
        if pid and pid != os.getpid() and self.logger is not None:
            self.logger.warning(f"{self.path}: taking over the lock of run pid {pid}, which is "
                                f"no longer running")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid={os.getpid()}\nhost={socket.gethostname()}\n"
                     f"started={time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    @staticmethod
    def _try_lock(fd, pid, host):
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
        same_host = host in ("", socket.gethostname())
        return not (same_host and pid != os.getpid() and pid_alive(pid))

    def release(self):
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


_TEMP = re.compile(r".*\.(tmp|old)(\d+)$")


def sweep_stale_temp(save_dir, logger=None):
    """Remove ``*.tmp<pid>`` / ``*.old<pid>`` files and folders left in ``save_dir`` by
    processes that no longer run (a killed save, a full disk); an ``X.old<pid>`` whose ``X`` is
    missing is the last complete copy of ``X`` and is renamed back. Returns the removed paths."""
    removed = []
    for path in glob.glob(os.path.join(glob.escape(save_dir), "*")):
        m = _TEMP.fullmatch(os.path.basename(path))
        if not m or int(m.group(2)) == os.getpid() or pid_alive(int(m.group(2))):
            continue
        final = path[:-len(m.group(1) + m.group(2)) - 1]
        if m.group(1) == "old" and not os.path.exists(final):
            # killed between "move the previous checkpoint aside" and "move the new one in":
            # the aside copy is the last complete one, so put it back
            os.replace(path, final)
            if logger is not None:
                logger.warning(f"restored {final} from {os.path.basename(path)} (a save was "
                               f"interrupted while replacing it)")
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                continue
        removed.append(path)
    if removed and logger is not None:
        logger.warning(f"removed {len(removed)} unfinished temporary file(s)/folder(s) of "
                       f"stopped runs: {', '.join(os.path.basename(p) for p in removed)}")
    return removed
