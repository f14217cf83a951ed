"""Slack notifiers through slack-sdk: an incoming webhook, or a bot token (chat.postMessage / chat.update).

Only these modules import slack_sdk (lazily). SDK and network errors become coursectl errors here; the webhook
URL and the token never appear in a message (they are masked out of every error text).
"""

from __future__ import annotations

from typing import Any

from coursectl.config.secrets import SecretMasker
from coursectl.domain import Delivery, Notification
from coursectl.errors import AuthError, CoursectlError, ExternalError, PreconditionError
from coursectl.render.slack_blocks import build_message

# Slack's error codes that trying again will not fix (the rest — rate limits, 5xx, time-outs — may pass later)
_PERMANENT = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "invalid_token",
    "missing_scope",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "channel_is_archived",
    "invalid_blocks",
    "invalid_payload",
    "msg_too_long",
    "no_text",
    "too_many_attachments",
    "action_prohibited",
    "user_not_found",
    "no_service",
    "no_team",
    "restricted_action",
    "cant_update_message",
    "edit_window_closed",
}
_AUTH = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "invalid_token",
    "missing_scope",
    "action_prohibited",
}


def _error(code: str, status: int | None, retry_after: Any, masker: SecretMasker, what: str) -> CoursectlError:
    text = masker.mask(f"Slack {what} failed: {code or 'no answer'}" + (f" (HTTP {status})" if status else ""))
    if code in _AUTH:
        return AuthError(text, hint="check the token's scopes (chat:write) or the webhook in notifications.slack")
    if code in _PERMANENT or (status is not None and 400 <= status < 500 and status != 429):
        return PreconditionError(text, hint="check notifications.slack (channel, app installation)")
    details: dict[str, Any] = {}
    if retry_after is not None:
        try:
            details["retry_after"] = float(retry_after)
        except (TypeError, ValueError):
            pass
    return ExternalError(text, details=details)


class SlackWebhookNotifier:
    """Posts to an incoming webhook: one message per notification (a webhook cannot edit what it posted)."""

    name = "slack"
    supports_update = False

    def __init__(self, url: str, *, timeout: float = 10.0):
        from slack_sdk.webhook import WebhookClient

        self._masker = SecretMasker([url])
        self._client = WebhookClient(url, timeout=int(max(1, timeout)), retry_handlers=[])

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery:
        message = build_message(notification)
        try:
            response = self._client.send(text=message["text"], blocks=message["blocks"], unfurl_links=False)
        except Exception as exc:  # urllib / socket errors: the service is unreachable
            raise ExternalError(
                self._masker.mask(f"Slack webhook unreachable: {type(exc).__name__}: {exc}")
            ) from exc
        if response.status_code != 200 or (response.body or "").strip() != "ok":
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            retry_after = headers.get("retry-after")
            if isinstance(retry_after, list):
                retry_after = retry_after[0] if retry_after else None
            raise _error((response.body or "").strip(), response.status_code, retry_after, self._masker, "webhook")
        return Delivery(self.name, notification.event, "sent", key=notification.key, final=notification.final)


class SlackBotNotifier:
    """Posts with a bot token; with ``update`` (``channel-id:ts`` of the rollout's message) edits it in place,
    so a rollout has ONE message that follows it (``chat.update``)."""

    name = "slack"
    supports_update = True

    def __init__(self, token: str, channel: str, *, base_url: str | None = None, timeout: float = 10.0):
        from slack_sdk import WebClient

        self._masker = SecretMasker([token])
        self.channel = channel
        kwargs: dict[str, Any] = {"token": token, "timeout": int(max(1, timeout)), "retry_handlers": []}
        if base_url:
            kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
        self._client = WebClient(**kwargs)

    def _call(self, what: str, **kwargs: Any) -> Any:
        from slack_sdk.errors import SlackApiError

        try:
            return getattr(self._client, what)(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            code = str(response.get("error", "")) if hasattr(response, "get") else ""
            headers = {k.lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
            retry_after = headers.get("retry-after")
            if isinstance(retry_after, list):
                retry_after = retry_after[0] if retry_after else None
            raise _error(
                code, getattr(response, "status_code", None), retry_after, self._masker, what.replace("_", ".")
            ) from exc
        except Exception as exc:  # connection refused, time-outs, bad JSON from a proxy
            raise ExternalError(
                self._masker.mask(f"Slack {what.replace('_', '.')} failed: {type(exc).__name__}: {exc}")
            ) from exc

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery:
        message = build_message(notification)
        n = notification
        if update:
            channel, _, ts = update.partition(":")
            try:
                response = self._call(
                    "chat_update", channel=channel, ts=ts, text=message["text"], blocks=message["blocks"]
                )
                ref = f"{response.get('channel', channel)}:{response.get('ts', ts)}"
                return Delivery(self.name, n.event, "updated", ref=ref, key=n.key, final=n.final)
            except PreconditionError as exc:
                if "message_not_found" not in exc.message and "cant_update_message" not in exc.message:
                    raise  # otherwise the message is gone: post a new one
        response = self._call(
            "chat_postMessage",
            channel=self.channel,
            text=message["text"],
            blocks=message["blocks"],
            unfurl_links=False,
        )
        ref = f"{response.get('channel', self.channel)}:{response.get('ts', '')}"
        return Delivery(self.name, n.event, "sent", ref=ref, key=n.key, final=n.final)
