"""Notifications service settings (`NOTIFICATIONS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    service_name: str = "notifications"
    port: int = 8004
    consumer_group: str = "rls-notifications"
