"""Batch scoring: the thread pipeline. Reading and writing run in threads beside the scoring, with at most one batch
waiting at each hand-over, so memory is bounded by the batch size and not by the file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import polars as pl

from iop_cli.batch.sinks import ParquetSink, TextSink, XlsxSink

SCORING_THREADS = 2


class Pipeline:
    """Reading and writing run in their own threads beside the scoring (Polars releases the GIL while it works),
    with at most one batch waiting at each hand-over, so memory does not grow with the file."""

    def __init__(self, batches: Iterable, sink: TextSink | ParquetSink | XlsxSink):
        import queue

        self.pending_chunks: queue.Queue = queue.Queue(maxsize=1)  # raw batches, read ahead
        self.scored: queue.Queue = queue.Queue(maxsize=1)
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(batches,), daemon=True)
        self.writer = threading.Thread(target=self._write, args=(sink,), daemon=True)
        self.reader.start()
        self.writer.start()

    def _read(self, batches: Iterable) -> None:
        # Only raw batches wait here (CSV: bytes); each scoring thread parses its own batch, so few parsed batches
        # exist at once.
        try:
            for chunk in batches:
                if self.stop.is_set():
                    break
                self.pending_chunks.put(chunk)
        except BaseException as exc:  # handed to the main thread, which reports it
            self.failure = self.failure or exc
        self.pending_chunks.put(None)

    def _write(self, sink: TextSink | ParquetSink | XlsxSink) -> None:
        ended = False

        def frames():
            nonlocal ended
            while (frame := self.scored.get()) is not None:
                yield frame
            ended = True

        try:
            sink.write(frames())
        except BaseException as exc:
            self.failure = self.failure or exc
            self.stop.set()
            while not ended and self.scored.get() is not None:  # let the main thread finish handing over
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
