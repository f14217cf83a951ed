"""Pure builder of a Slack message (Block Kit + plain-text fallback) from a Notification, within Slack's limits.

Limits kept (Slack's Block Kit reference): at most 50 blocks a message, 10 fields a section, 2,000 characters a
field, 3,000 a section text, 150 a header, 10 elements a context block, 25 elements an actions block, 75
characters a button label and 3,000 a button URL. Text is mrkdwn-escaped (``&``, ``<``, ``>``); what does not fit
is cut with an ellipsis and a last context line says how much was left out.
"""

from __future__ import annotations

from typing import Any

from coursectl.domain import Notification

MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_FALLBACK_CHARS = 3000

_ICON = {
    "deploy.started": ":rocket:",
    "deploy.progress": ":hourglass_flowing_sand:",
    "deploy.promoted": ":white_check_mark:",
    "deploy.aborted": ":leftwards_arrow_with_hook:",
    "deploy.failed": ":x:",
    "rollback": ":rewind:",
    "gate.blocked": ":no_entry:",
    "backup.succeeded": ":floppy_disk:",
    "backup.failed": ":rotating_light:",
    "lock.takeover": ":lock:",
    "build": ":hammer_and_wrench:",
    "test": ":wave:",
}


def escape(text: str) -> str:
    """Slack mrkdwn escaping: ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def header_text(n: Notification) -> str:
    """``service@version`` when the notification is about a version, else its title."""
    if n.service and n.version:
        return f"{n.service}@{n.version}"
    if n.service:
        return n.service
    return n.title


def fallback_text(n: Notification) -> str:
    """The plain-text fallback: notifications, screen readers, clients without Block Kit."""
    parts = [f"[{n.severity.upper()}] {n.title}"]
    if n.service:
        parts.append(header_text(n) + (f" in {n.environment}" if n.environment else ""))
    if n.summary:
        parts.append(n.summary)
    if n.key:
        parts.append(f"rollout {n.key}")
    return cut(" — ".join(parts), MAX_FALLBACK_CHARS)


def _context(n: Notification) -> list[str]:
    items = [f"{n.severity}"]
    if n.key:
        items.append(f"rollout `{escape(n.key)}`")
    if n.duration_s is not None:
        from coursectl.notify.messages import duration_text

        items.append(f"duration {duration_text(n.duration_s)}")
    items.append(n.time.strftime("%Y-%m-%d %H:%M:%S UTC"))
    return items


def build_message(n: Notification) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}`` for chat.postMessage, chat.update and incoming webhooks."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(header_text(n), MAX_HEADER_CHARS), "emoji": True},
        }
    ]
    icon = _ICON.get(n.event, ":information_source:")
    status = f"{icon} *{escape(n.title)}*"
    if n.environment:
        status += f" in *{escape(n.environment)}*"
    if n.summary:
        status += "\n" + escape(n.summary)
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(status, MAX_SECTION_CHARS)}})
    fields = [
        {"type": "mrkdwn", "text": cut(f"*{escape(name)}*\n{escape(value)}", MAX_FIELD_CHARS)}
        for name, value in n.fields
    ]
    for i in range(0, len(fields), MAX_FIELDS):
        blocks.append({"type": "section", "fields": fields[i : i + MAX_FIELDS]})
    detail_blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(escape(line), MAX_SECTION_CHARS)}}
        for line in n.details
        if line
    ]
    tail: list[dict[str, Any]] = []
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": cut(label, MAX_BUTTON_TEXT)}, "url": url}
        for label, url in n.links
        if len(url) <= MAX_BUTTON_URL
    ][:MAX_ACTIONS]
    if buttons:
        tail.append({"type": "actions", "elements": buttons})
    context = [{"type": "mrkdwn", "text": item} for item in _context(n)][:MAX_CONTEXT_ELEMENTS]
    tail.append({"type": "context", "elements": context})
    room = MAX_BLOCKS - len(blocks) - len(tail)
    if len(detail_blocks) > room:
        left_out = len(detail_blocks) - (room - 1)
        detail_blocks = detail_blocks[: room - 1] + [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… {left_out} more line(s) not shown"}]}
        ]
    if detail_blocks:
        blocks.append({"type": "divider"})
    blocks.extend(detail_blocks)
    blocks.extend(tail)
    if len(blocks) > MAX_BLOCKS:  # only with more than ~400 fields: keep the head and the tail
        blocks = blocks[: MAX_BLOCKS - len(tail)] + tail
    return {"text": fallback_text(n), "blocks": blocks}


def check_limits(message: dict[str, Any]) -> list[str]:
    """Every limit ``message`` breaks (empty when it is within Slack's limits) — for tests and the stand-in."""
    problems: list[str] = []
    blocks = message.get("blocks", [])
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks > {MAX_BLOCKS}")
    if not message.get("text"):
        problems.append("no fallback text")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header" and len(block["text"]["text"]) > MAX_HEADER_CHARS:
            problems.append(f"block {i}: header longer than {MAX_HEADER_CHARS}")
        if kind == "section":
            if "text" in block and len(block["text"]["text"]) > MAX_SECTION_CHARS:
                problems.append(f"block {i}: section text longer than {MAX_SECTION_CHARS}")
            fields = block.get("fields", [])
            if len(fields) > MAX_FIELDS:
                problems.append(f"block {i}: {len(fields)} fields > {MAX_FIELDS}")
            problems += [
                f"block {i}: a field longer than {MAX_FIELD_CHARS}"
                for f in fields
                if len(f["text"]) > MAX_FIELD_CHARS
            ]
        if kind == "context" and len(block["elements"]) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"block {i}: context with more than {MAX_CONTEXT_ELEMENTS} elements")
        if kind == "actions" and len(block["elements"]) > MAX_ACTIONS:
            problems.append(f"block {i}: actions with more than {MAX_ACTIONS} elements")
    return problems
