"""Batch scoring: the thread pipeline. Reading and writing run in threads beside the scoring, with at most one batch
waiting at each hand-over, so memory is bounded by the batch size and not by the file.
"""

from __future__ import annotations

import io
import os
import threading

import polars as pl

from iop_cli.batch.read import read_chunks
from iop_cli.files import InputFile

SCORING_THREADS = 2


class Pipeline:
    """Reading and writing run in their own threads beside the scoring (Polars releases the GIL while it works),
    with at most one batch waiting at each hand-over, so memory does not grow with the file."""

    def __init__(self, source: InputFile, start: int, out, text_columns: list[str], chunk_bytes: int | None = None):
        import queue

        self.pending_chunks: queue.Queue = queue.Queue(maxsize=1)  # raw batches (bytes), read ahead
        self.scored: queue.Queue = queue.Queue(maxsize=1)
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(source, start, chunk_bytes), daemon=True)
        self.writer = threading.Thread(target=self._write, args=(out, text_columns), daemon=True)
        self.reader.start()
        self.writer.start()

    def _read(self, source: InputFile, start: int, chunk_bytes: int | None) -> None:
        # Only bytes wait here; each scoring thread parses its own batch, so few parsed batches exist at once.
        try:
            for chunk in read_chunks(source, chunk_bytes, start=start):
                if self.stop.is_set():
                    break
                self.pending_chunks.put(chunk)
        except BaseException as exc:  # handed to the main thread, which reports it
            self.failure = self.failure or exc
        self.pending_chunks.put(None)

    def _write(self, out, text_columns: list[str]) -> None:
        import stat

        try:
            on_disk = stat.S_ISREG(os.fstat(out.fileno()).st_mode)  # not a pipe or a device: those cannot sync
        except (AttributeError, OSError, io.UnsupportedOperation):  # an in-memory output (tests, rules diff)
            on_disk = False
        try:
            while (frame := self.scored.get()) is not None:
                # Every cell is already text in the output's form (see BatchScorer.score), so nothing is quoted
                # twice; CSV rows are two ready pieces joined by a comma, JSON lines one.
                frame.select(text_columns).write_csv(out, include_header=False, quote_style="never")
                if on_disk:
                    # Each batch goes to disk while the next ones are scored: the final fsync has little left to do.
                    out.flush()
                    os.fdatasync(out.fileno())
        except BaseException as exc:
            self.failure = self.failure or exc
            self.stop.set()
            while self.scored.get() is not None:  # let the main thread finish handing over
                pass

    def batches(self):
        while (chunk := self.pending_chunks.get()) is not None:
            if self.failure is not None:
                break
            yield chunk
        self.check()

    def put(self, frame: pl.DataFrame) -> None:
        self.scored.put(frame)

    def close(self) -> None:
        """Stop both threads and wait for the writer to finish what it was given."""
        self.stop.set()
        while self.reader.is_alive():
            try:
                self.pending_chunks.get_nowait()
            except Exception:
                self.reader.join(0.01)
        self.scored.put(None)
        self.writer.join()
        self.check()

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def abort(self) -> None:
        """After a failure or a --strict stop: release both threads without waiting for the rest of the file."""
        import queue

        self.stop.set()
        for hand_over, done in ((self.pending_chunks, self.reader), (self.scored, self.writer)):
            while done.is_alive():
                try:
                    hand_over.get_nowait() if hand_over is self.pending_chunks else hand_over.put(None, timeout=0.01)
                except (queue.Empty, queue.Full):
                    pass
                done.join(0.01)
