"""Starting the alarm engine with its tasks and webhooks; whoever calls `on_commit` feeds it."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import Counter

from wqmon.alarms.config import config_from_settings
from wqmon.alarms.engine import AlarmEngine
from wqmon.alarms.notify import WebhookSender
from wqmon.alarms.pushed import listen_for_pushes
from wqmon.settings import Settings, libpq_url
from wqmon.supervision import PermanentHandler, start_supervised


def webhook_sender(settings: Settings) -> WebhookSender | None:
    if not settings.alarm_webhook_urls:
        return None
    secret = settings.alarm_webhook_secret
    return WebhookSender(
        settings.alarm_webhook_urls,
        secret.get_secret_value() if secret is not None else "",
        max_attempts=settings.alarm_webhook_max_attempts,
        backoff_s=settings.alarm_webhook_backoff_s,
    )


async def start_engine(
    settings: Settings,
    *,
    restarts: Counter | None = None,
    on_permanent: PermanentHandler | None = None,
) -> tuple[AlarmEngine, list[asyncio.Task[None]]]:
    """An engine with its state loaded and its tasks running (supervised: a loop that dies is
    logged, counted in `restarts` and restarted), fed by whoever calls on_commit."""
    engine = AlarmEngine(
        settings.database_url,
        config_from_settings(settings),
        queue_size=settings.alarm_queue_size,
        tick_s=settings.alarm_tick_s,
    )
    await engine.start()
    options: dict[str, Any] = {"restarts": restarts, "on_permanent": on_permanent}
    url = libpq_url(settings.database_url)
    tasks = [
        start_supervised("alarms:engine", engine.run, **options),
        start_supervised("alarms:clock", engine.run_clock, **options),
        # Readings pushed over HTTP are committed by the API process: it tells us which.
        start_supervised(
            "alarms:pushed", lambda: listen_for_pushes(url, engine.on_commit), **options
        ),
    ]
    sender = webhook_sender(settings)
    if sender is not None:
        engine.add_event_listener(lambda event: sender.submit(event.as_json()))
        tasks.append(start_supervised("alarms:webhooks", sender.run, **options))
    return engine, tasks
