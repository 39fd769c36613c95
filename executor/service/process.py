"""The ``action-executor serve`` process: signals, systemd's notify protocol, a watchdog.

SIGTERM or SIGINT stops the service (``ExecutorService.stop``); a second one
skips the rest of the grace period; SIGUSR2 dumps every thread's stack to
stderr. A watchdog exits the process if stopping takes longer than it can.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import os
import signal
import socket
import threading
from typing import Any

from oslo_config import cfg

from executor.service.server import ExecutorService
from protocol.exit_codes import CommandExit

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def sd_notify(state: str) -> None:
    """systemd's readiness protocol (``Type=notify``); nothing without NOTIFY_SOCKET."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.debug("sd_notify(%s) failed: %s", state, exc)


def serve(conf: cfg.ConfigOpts) -> int:
    """Run until SIGTERM/SIGINT; a second signal skips the grace period."""
    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        signals.append(signum)
        stop.set()

    for signum in _STOP_SIGNALS:
        signal.signal(signum, on_signal)
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # where is it stuck? (stderr)
    service = ExecutorService(conf)
    service.start()
    # What start made lives as long as the process (configuration, the
    # broker's connections, the executor): out of the collector's sight, each
    # collection then scans only what the actions' traffic allocates.
    gc.freeze()
    sd_notify("READY=1")
    while not stop.wait(1.0):
        pass
    sd_notify("STOPPING=1")
    watchdog = _watchdog(service)

    def on_second(signum: int, _frame: Any) -> None:
        log.warning("second signal: killing the running actions now")
        service.kill_now()

    for signum in _STOP_SIGNALS:
        signal.signal(signum, on_second)
    grace = service.settings.shutdown_grace_period
    log.info("signal %s: stopping (grace %.3g s)", signals[0], grace)
    service.stop()
    watchdog.cancel()
    log.info("stopped")
    return 0


def _watchdog(service: ExecutorService) -> threading.Timer:
    """Ends the process if stopping outlasts every limit it has, and some."""
    s = service.settings
    limit = (
        s.shutdown_grace_period + s.shutdown_delivery_timeout + service.config.close_timeout + 20
    )
    watchdog = threading.Timer(limit, _hang_exit, args=(limit,))
    watchdog.daemon = True
    watchdog.start()
    return watchdog


def _hang_exit(limit: float) -> None:
    log.error("stopping took more than %.0f s; exiting without finishing", limit)
    logging.shutdown()
    os._exit(CommandExit.FAILED)
