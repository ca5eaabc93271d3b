"""Files for the commands: reading inputs (answers files, CSV input, `-` for stdin) and writing outputs.

Two rules live here, so every command keeps them: no command writes onto a file it read (each read is noted, each
write checked), and PHI never stays on disk unasked (outputs go through a temporary file that is renamed into place
or removed; a killed run's leftovers are swept by the next run; stdin and pipes are streamed, never copied to disk).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from typing import Any

from iop_cli.env import current
from iop_cli.problems import Problem, ProblemsError

# An answers file or a map is small; reading stops past this, so `/dev/zero` or a mistaken 10 GB file is refused
# at once instead of filling memory (the YAML reader's own limit, 10 million characters, is at most 40 MB of UTF-8).
MAX_TEXT_BYTES = 40_000_000


def read_text(path: str) -> tuple[str, str]:
    """The text of a file or of stdin (`-`), and the name to show in messages."""
    if path == "-":
        data = current().stdin.buffer.read(MAX_TEXT_BYTES + 1)
        name = "<stdin>"
    else:
        try:
            with open(path, "rb") as handle:
                note_read(handle.fileno())
                data = handle.read(MAX_TEXT_BYTES + 1)
        except OSError as exc:
            raise ProblemsError([Problem(path, f"cannot read the file: {reason(exc)}", "check the path")]) from None
        name = path
    if len(data) > MAX_TEXT_BYTES:
        raise ProblemsError(
            [Problem(name, f"the file is too large (over {MAX_TEXT_BYTES // 1_000_000} MB)", "check the path")]
        )
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise ProblemsError([Problem(name, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8")]) from None


# ----------------------------------------------------------------------------------------------------------------
# What this process read, so that no output lands on it


_read: set[tuple[int, int]] = set()


def forget_reads() -> None:
    """Start a command with no files read: what an earlier command in this process read (tests run many) is not an
    input of this one, and its inode may since belong to a new file."""
    _read.clear()


def note_read(fd: int) -> None:
    """Remember an open input (by device and inode, so links and other spellings of its path count too)."""
    info = os.fstat(fd)
    _read.add((info.st_dev, info.st_ino))


def reason(exc: OSError) -> str:
    """The operating system's words for an I/O failure, without the file's contents."""
    import errno

    if exc.strerror:
        return exc.strerror
    code = exc.errno
    if not code:  # Polars raises OSError("... (os error 28)") without an errno
        import re

        found = re.search(r"os error (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    if code:
        return os.strerror(code) if code in errno.errorcode else f"error {code}"
    return "input/output error"


# ----------------------------------------------------------------------------------------------------------------
# Temporary files: named so that only iop's own are ever swept


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_prefix() -> str:
    return f".iop-tmp-{_host_tag()}-{os.getpid()}-"


def _stale(name: str, host: str) -> bool:
    """A temporary file of an iop process on this host that is no longer running."""
    import re

    match = re.fullmatch(r"\.iop-tmp-([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+\.part", name)
    if not match or match.group(1) != host:
        return False
    pid = int(match.group(2))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError, OverflowError):
        return False
    return False


def sweep_stale(folder: str | os.PathLike) -> None:
    """Remove what a killed iop run (SIGKILL, power loss) left in `folder`: only our own, only the dead's."""
    host = _host_tag()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(".iop-tmp-") and _stale(name, host):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if os.stat(path).st_uid == os.getuid():
                    os.unlink(path)


def anonymous_temp() -> Any:
    """A 0600 read-write binary file in the temp folder that has no name on disk: nothing to leave behind."""
    import tempfile

    handle, temp = tempfile.mkstemp(prefix=_temp_prefix(), suffix=".part")
    os.unlink(temp)
    return os.fdopen(handle, "w+b")


# ----------------------------------------------------------------------------------------------------------------
# Outputs


def _refuse(path: str, message: str, hint: str) -> ProblemsError:
    return ProblemsError([Problem(path, message, hint)])


def check_target(target: str, protect: tuple[str | os.PathLike, ...] = ()) -> os.stat_result | None:
    """Refuse, before any work, an output that is a folder, lies in a missing folder, or is a file this process read
    or one of `protect`. The target's status when it exists."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _refuse(target, f"cannot write here: {reason(exc)}", "choose another output file") from None
    if info is None:
        folder = os.path.dirname(target) or "."
        if not os.path.isdir(folder):
            raise _refuse(target, f"the folder {folder} does not exist", "create it, or choose another output")
        return None
    import stat

    if stat.S_ISDIR(info.st_mode):
        raise _refuse(target, "is a folder", "give a file name")
    if (info.st_dev, info.st_ino) in _read or any(_same(target, p) for p in protect):
        raise _refuse(target, "is an input of this command", "write to another file; inputs are never overwritten")
    return info


class Output:
    """Where a command's result goes. A regular file (new or existing) is written to a 0600 temporary file beside it
    and renamed into place by `commit`, so a failed run leaves nothing half-written. A pipe, a terminal or a device
    (`/dev/null`, `>(cmd)`) is written through as it is: it cannot be replaced. `-` is stdout, through an unnamed
    spool, so a failed run writes nothing there either.

    Refused before any work: a folder, a missing folder, and any file this process read (see `note_read`) or listed
    in `protect`."""

    def __init__(self, target: str, protect: tuple[str | os.PathLike, ...] = ()):
        import stat
        import tempfile

        self.target = target
        self.temp: str | None = None
        self.spooled = False
        if target == "-":
            self.file = anonymous_temp()
            self.spooled = True
            return
        info = check_target(target, protect)
        if info is not None and not stat.S_ISREG(info.st_mode):
            try:
                self.file = open(target, "wb")  # noqa: SIM115 - closed by commit/discard
            except OSError as exc:
                raise _refuse(target, f"cannot write: {reason(exc)}", "check the target") from None
            return
        folder = os.path.dirname(target) or "."
        sweep_stale(folder)
        try:
            handle, self.temp = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(), suffix=".part")  # 0600
        except OSError as exc:
            raise _refuse(target, f"cannot write here: {reason(exc)}", "check the folder's permissions") from None
        self.file = os.fdopen(handle, "wb")

    @property
    def on_disk(self) -> bool:
        """Whether flushing to stable storage means anything (not for pipes, devices or the stdout spool)."""
        return self.temp is not None

    def commit(self) -> None:
        """Put the finished output in place. Raises OSError when that fails; nothing is then left behind."""
        try:
            self.file.flush()
            if self.temp is not None:
                os.fsync(self.file.fileno())
                self.file.close()
                os.replace(self.temp, self.target)
                self.temp = None
            elif self.spooled:
                import shutil

                self.file.seek(0)
                shutil.copyfileobj(self.file, current().stdout.buffer, 1 << 20)
                current().stdout.buffer.flush()
                self.file.close()
            else:
                self.file.close()
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop an unfinished output: the temporary file goes; a pipe or device keeps what reached it."""
        with contextlib.suppress(OSError):
            self.file.close()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            self.temp = None


def _same(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_private(path: str, text: str, protect: tuple[str | os.PathLike, ...] = ()) -> None:
    """Write `text` to `path` (see `Output`): atomically and 0600 for a file, through for a pipe or device, `-` is
    stdout. Raises ProblemsError, naming the file, when it cannot be written."""
    if path == "-":
        current().stdout.write(text)
        current().stdout.flush()
        return
    output = Output(path, protect)
    try:
        output.file.write(text.encode("utf-8"))
        output.commit()
    except OSError as exc:
        raise _refuse(path, f"cannot write: {reason(exc)}", "check the disk and the folder") from None
    finally:
        output.discard()


# ----------------------------------------------------------------------------------------------------------------
# Inputs read in parts (the CSV of `iop score`)


_seek_lock = threading.Lock()


class InputFile:
    """An input read by position (`read_at`), so the header, the batches and the error messages each read it their
    own way without sharing a file offset. A regular file is read in place (`pread`), stdin redirected from one too
    (from where its offset stands). Stdin, a pipe or `<(cmd)` is streamed: what has been read and not yet released
    (`release`) is held in memory, and nothing goes to disk."""

    def __init__(self, path: str):
        import stat

        self.name = "<stdin>" if path == "-" else path
        self._stream: Any = None
        self._origin = 0  # where the data starts in the file (stdin may stand past the start)
        self._own = path != "-"  # stdin is not ours to close
        if path == "-":
            stdin = current().stdin.buffer
            try:
                fd = stdin.fileno()
                regular = stat.S_ISREG(os.fstat(fd).st_mode)
            except (AttributeError, OSError, io.UnsupportedOperation):  # an in-memory stdin (tests)
                regular = False
            if regular:
                note_read(fd)
                self.fd, self._origin = fd, os.lseek(fd, 0, os.SEEK_CUR)
            else:
                self._stream_from(stdin)
            return
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            why = "no such file" if isinstance(exc, FileNotFoundError) else f"cannot read it: {reason(exc)}"
            raise ProblemsError([Problem(path, why, "check the path; - reads stdin")]) from None
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            os.close(fd)
            raise ProblemsError([Problem(path, "is a folder, not a CSV file", "give the CSV file's path")])
        note_read(fd)
        self.fd = fd
        if not stat.S_ISREG(info.st_mode):
            self._stream_from(os.fdopen(fd, "rb", buffering=0))

    def _stream_from(self, stream) -> None:
        self._stream = stream
        self._held = bytearray()  # the stream's bytes from offset `_base` on
        self._base = 0
        self._ended = False

    def read_at(self, offset: int, size: int) -> bytes:
        if self._stream is not None:
            return self._read_stream(offset, size)
        if hasattr(os, "pread"):
            return os.pread(self.fd, size, self._origin + offset)
        with _seek_lock:  # Windows has no pread: one reader at a time moves the shared offset
            os.lseek(self.fd, self._origin + offset, os.SEEK_SET)
            return os.read(self.fd, size)

    def _read_stream(self, offset: int, size: int) -> bytes:
        if offset < self._base:
            raise RuntimeError(f"{self.name}: bytes before offset {self._base} were released")
        end = offset + size
        while not self._ended and self._base + len(self._held) < end:
            try:
                more = self._stream.read(max(end - self._base - len(self._held), 1 << 20))
            except OSError as exc:
                raise ProblemsError([Problem(self.name, f"cannot read: {reason(exc)}", "check the input")]) from None
            if not more:
                self._ended = True
            self._held += more
        with memoryview(self._held) as held:
            return bytes(held[offset - self._base : end - self._base])

    @property
    def streamed(self) -> bool:
        """Whether this is stdin or a pipe read as a stream (a regular file is read in place)."""
        return self._stream is not None

    @property
    def held(self) -> int:
        """How many bytes of a streamed input are in memory (0 for a file)."""
        return len(self._held) if self._stream is not None else 0

    def release(self, offset: int) -> None:
        """The bytes before `offset` will not be read again: a streamed input lets them go (a file has nothing to
        let go), so memory holds one batch, not the input."""
        if self._stream is not None and offset > self._base:
            del self._held[: offset - self._base]
            self._base = offset

    def open(self):
        """A new binary stream over the whole input, with its own position."""
        return io.BufferedReader(_View(self), 1 << 16)

    def close(self) -> None:
        if not self._own:
            return  # stdin stays open
        with contextlib.suppress(OSError):
            (self._stream.close if self._stream is not None else lambda: os.close(self.fd))()

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _View(io.RawIOBase):
    def __init__(self, source: InputFile):
        self.source = source
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.source.read_at(self.position, len(buffer))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.position = offset
        elif whence == 1:
            self.position += offset
        else:  # a streamed input has no known end
            raise io.UnsupportedOperation("seek from the end")
        return self.position

    def tell(self) -> int:
        return self.position
