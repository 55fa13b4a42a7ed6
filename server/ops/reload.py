"""Live catalog reload: SIGHUP, or a poll of the catalog files' stat, swaps the classifier.

The new catalog is read, validated and indexed off the event loop; only a
catalog that passes every check replaces the old one (ClassifierHolder.swap),
so a bad edit leaves the server answering from the last good catalog and the
log line says exactly what is wrong (file, line, entry). Calls already in
flight keep the classifier they started with (service.py reads it once per
call, once per stream); calls that start after the swap name the new version.

The watch compares (mtime, size, inode) of each file, following symlinks,
so a Kubernetes ConfigMap update (an atomic symlink flip) counts as a change.
A change is acted on once the files have stayed the same for a short settle
time, so a file caught half-written is not loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from whatsapp_errors.server.catalog import CatalogError, load_catalog
from whatsapp_errors.server.classify.classifier import Classifier, ClassifierHolder
from whatsapp_errors.server.ops.overlay_guard import check_overlay

_LOGGER = logging.getLogger(__name__)

MAX_SETTLE_SECONDS = 0.5
Signature = tuple[tuple[int, int, int] | None, ...]


def file_signature(paths: list[Path]) -> Signature:
    """(mtime_ns, size, inode) of each path, None for one that cannot be stat'ed."""
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class CatalogReloader:
    """Reloads the catalog into `holder` on demand; one reload at a time."""

    def __init__(
        self,
        holder: ClassifierHolder,
        catalog_path: Path,
        overlay_path: Path | None = None,
        on_result: Callable[[bool], None] | None = None,
    ) -> None:
        self.holder = holder
        self.paths = [catalog_path] + ([overlay_path] if overlay_path is not None else [])
        self._catalog_path = catalog_path
        self._overlay_path = overlay_path
        self._on_result = on_result
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[object]] = set()

    def _build(self) -> Classifier:
        check_overlay(self._overlay_path)
        return Classifier(load_catalog(self._catalog_path, self._overlay_path))

    async def reload(self, why: str) -> bool:
        """Loads the files again; swaps in the result only if it is valid. True if served."""
        async with self._lock:
            old = self.holder.current.version
            try:
                classifier = await asyncio.to_thread(self._build)
            except CatalogError as exc:
                _LOGGER.error(
                    "catalog reload rejected (%s); still serving %s: %s",
                    why,
                    old,
                    exc,
                    extra={"event": "catalog_reload", "result": "failure", "error": str(exc)},
                )
                self._report(False)
                return False
            except Exception:  # a bug must not take the server down with it
                _LOGGER.exception(
                    "catalog reload failed (%s); still serving %s",
                    why,
                    old,
                    extra={"event": "catalog_reload", "result": "failure"},
                )
                self._report(False)
                return False
            self.holder.swap(classifier)
            _LOGGER.info(
                "catalog reloaded (%s): %s -> %s",
                why,
                old,
                classifier.version,
                extra={"event": "catalog_reload", "result": "success"},
            )
            self._report(True)
            return True

    def _report(self, ok: bool) -> None:
        if self._on_result is not None:
            self._on_result(ok)

    def request(self, why: str) -> None:
        """Schedules a reload from a signal handler or callback on the loop."""
        task = asyncio.get_running_loop().create_task(self.reload(why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def watch(self, interval: float) -> None:
        """Polls the files every `interval` seconds and reloads once a change settles."""
        last = file_signature(self.paths)
        settle = min(interval, MAX_SETTLE_SECONDS)
        while True:
            await asyncio.sleep(interval)
            now = file_signature(self.paths)
            if now == last:
                continue
            await asyncio.sleep(settle)
            settled = file_signature(self.paths)
            if settled != now:
                continue  # still being written: look again next round
            last = settled
            await self.reload("catalog file changed")


class ReloadHandle:
    """The SIGHUP handler and the watch task of one running server."""

    def __init__(self, reloader: CatalogReloader, watch_interval: float) -> None:
        self.reloader = reloader
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGHUP, reloader.request, "SIGHUP")
        self._watch: asyncio.Task[None] | None = None
        if watch_interval > 0:
            self._watch = self._loop.create_task(reloader.watch(watch_interval))
            _LOGGER.info(
                "watching %s every %gs",
                ", ".join(str(p) for p in reloader.paths),
                watch_interval,
            )

    async def close(self) -> None:
        """Stops watching; from now on SIGHUP is logged and ignored.

        Removing the handler would restore SIGHUP's default action, which
        ends the process: a config reloader's SIGHUP landing during the
        SIGTERM drain would cut the calls the drain is there to finish.
        """
        self._loop.add_signal_handler(signal.SIGHUP, _ignored_while_draining)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch


def _ignored_while_draining() -> None:
    _LOGGER.warning("SIGHUP while draining: no reload, the drain goes on")


def ignore_sighup() -> None:
    """SIGHUP ignored for the rest of the process (after the loop's handlers are gone).

    Call once the server has stopped, before the loop closes: closing it
    would otherwise put SIGHUP's default (terminate) back.
    """
    loop = asyncio.get_running_loop()
    loop.remove_signal_handler(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
