"""What the global options decided, and the configuration, ledger and output sinks a command opens lazily.

No Typer here: ``status`` runs from coursectl/cli/_fast.py without the parser, on the same AppState.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.cli._output import Output, OutputMode

if TYPE_CHECKING:
    from coursectl.config import LoadedConfig
    from coursectl.config.secrets import SecretMasker
    from coursectl.ledger import SqliteLedger


@dataclass
class AppState:
    """What the global options decided, and the lazily opened configuration and ledger."""

    config_path: str | None = None
    env_name: str | None = None
    kubeconfig: str | None = None
    verbosity: int = 0
    output_mode: OutputMode = OutputMode.human
    _config: LoadedConfig | None = None
    _ledger: SqliteLedger | None = None
    _outputs: dict[OutputMode, Output] = field(default_factory=dict)
    masker: SecretMasker | None = None
    log_format: LogFormatter | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))  # domain.utcnow, without the import
    _notifications: Any = None

    def apply_globals(
        self,
        *,
        config: str | None,
        env: str | None,
        kubeconfig: str | None,
        output: OutputMode,
        verbose: int,
        quiet: bool,
    ) -> None:
        """Take the global options (the root command's, or coursectl/cli/_fast.py's) and set up logging."""
        self.config_path = config
        self.env_name = env
        self.kubeconfig = kubeconfig
        self.output_mode = OutputMode.quiet if quiet and output is OutputMode.human else output
        self.verbosity = verbose
        self.log_format = configure_logging(verbose, quiet, self.output_mode)

    def out(self, mode: OutputMode | None = None) -> Output:
        """The output sink of a command: its own ``-o`` wins over the global one (log lines follow it)."""
        chosen = mode or self.output_mode
        self.output_mode = chosen
        if self.log_format is not None:
            self.log_format.json = chosen is OutputMode.json
        if chosen not in self._outputs:
            self._outputs[chosen] = Output(chosen, verbosity=self.verbosity)
        return self._outputs[chosen]

    def config(self, env_name: str | None = None) -> LoadedConfig:
        """The validated configuration (with the environment's overlay)."""
        from coursectl.config import load_config

        wanted = env_name or self.env_name
        if self._config is None or (wanted and self._config.env_name != wanted):
            self._config = load_config(self.config_path, wanted)
        return self._config

    def state_dir(self) -> Path:
        """The state directory; PreconditionError (exit 4) when that path is a file."""
        from coursectl.ledger.sqlite import check_state_dir
        from coursectl.paths import state_dir

        folder = state_dir()
        check_state_dir(folder)
        return folder

    def ledger(self) -> SqliteLedger:
        """The ledger in the state directory (opened and migrated on first use)."""
        if self._ledger is None:
            from coursectl.wiring import ledger

            self._ledger = ledger(self.state_dir())
        return self._ledger

    def notifications(self) -> Any:
        """The NotificationService of this command (built on first use from the loaded configuration)."""
        if self._notifications is None:
            from coursectl.wiring import notification_service

            self._notifications = notification_service(
                self.config().config, state_dir=self.state_dir(), ledger=self.ledger()
            )
        return self._notifications

    def announce_gate(self, gate: str, message: str, **facts: Any) -> None:
        """Announce that ``gate`` blocked a change (``gate.blocked``); never raises."""
        try:
            from coursectl.api.notify import notify_gate
            from coursectl.domain import current_actor
            from coursectl.wiring import notification_links

            loaded = self.config()
            links = notification_links(loaded.config)(facts.get("service"), facts.get("environment"))
            notify_gate(self.notifications(), gate, message, actor=current_actor(), links=links, **facts)
        except Exception as exc:  # a notification never changes a command's outcome
            logging.getLogger(__name__).warning("notifications: %s", exc)

    def finish_notifications(self) -> None:
        """Announce the lock take-overs this command made, wait (bounded) for deliveries still going, and report
        the ones that failed. Never raises: a notification never fails a command."""
        try:
            if self._ledger is not None and self._config is not None:
                from coursectl.domain import current_actor

                actor = current_actor()
                takeovers = self._ledger.events(kinds=["lock.takeover"], since=self.started, limit=5)
                if any(e.actor == actor for e in takeovers):
                    from coursectl.api.notify import announce_lock_takeovers
                    from coursectl.wiring import notification_links

                    links = notification_links(self._config.config)(None, self._config.env_name)
                    announce_lock_takeovers(
                        self.notifications(), self._ledger, since=self.started, actor=actor, links=links
                    )
            if self._notifications is None:
                return
            out = self.out()
            for d in self._notifications.drain():
                if not d.ok and d.status != "skipped":
                    out.warn(
                        f"notification {d.event} to {d.channel} failed after {d.attempts} attempt(s):"
                        f" {d.error} (recorded in the ledger)"
                    )
            self._notifications.close()
        except Exception as exc:  # reporting on notifications must not turn a result into an error
            logging.getLogger(__name__).warning("notifications: %s", exc)

    def close(self) -> None:
        self.finish_notifications()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


class LogFormatter(logging.Formatter):
    """Log records as coursectl prints them on stderr: ``LEVEL logger: message`` (printable, redacted), or with
    ``-o json`` one ``{"type": "log", "level", "logger", "message"}`` line each."""

    def __init__(self, *, json: bool = False):
        super().__init__()
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        from coursectl.cli._output import dumps, redact
        from coursectl.render.printable import printable_text

        message = record.getMessage()
        if record.exc_info and debug_enabled():
            message += "\n" + self.formatException(record.exc_info)
        if self.json:
            return redact(
                dumps(
                    {"type": "log", "level": record.levelname.lower(), "logger": record.name, "message": message},
                    indent=None,
                )
            )
        return redact(printable_text(f"{record.levelname} {record.name}: {message}"))


def configure_logging(verbosity: int, quiet: bool, mode: OutputMode) -> LogFormatter:
    from coursectl.config.secrets import SecretMasker

    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    formatter = LogFormatter(json=mode is OutputMode.json)
    handler.setFormatter(formatter)
    handler.addFilter(SecretMasker())
    root = logging.getLogger("coursectl")
    root.handlers[:] = [handler]
    root.setLevel(level)
    return formatter


def debug_enabled() -> bool:
    return os.environ.get("COURSECTL_DEBUG", "") not in ("", "0", "false")
