"""Standards board settings (`STANDARDS_*`). The bounds are the orientations' numbers, as configuration (regions
adapt them); README.md cites the line of the seed each default comes from."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import PlatformSettings
from services.contract import topics
from services.contract.delay_standards import BoundsSetting, check_bounds, policy_of
from services.contract.duration_standards import DurationPolicy
from services.contract.hours_standards import HoursPolicy
from services.standards.bounds import Bounds

CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class StandardsSettings(PlatformSettings):
    """The board process: its API, its faust worker, the topics it reads and the standards' bounds."""

    model_config = SettingsConfigDict(env_prefix="STANDARDS_", extra="ignore", populate_by_name=True)

    service_name: str = "standards"
    host: str = "127.0.0.1"
    port: int = 8006
    consumers_enabled: bool = True
    """Follow the board topic (and run the worker, unless `worker_enabled` is false) in the API process."""
    worker_enabled: bool = True
    """Run the faust worker in the API process (`python -m services.standards.worker` runs it alone)."""
    app_id: str = "rls-standards"
    """The faust application id: its consumer group and the prefix of its changelog topics."""
    referral_topic: str = topics.REFERRAL
    agreements_topic: str = topics.AGREEMENTS
    calls_topic: str = topics.INFOSOCIAL_CALLS
    board_topic: str = topics.STANDARDS_BOARD
    partitions: int = Field(3, ge=1, description="Partitions of the topics read (their tables have as many)")
    replication_factor: int = Field(1, ge=1, description="Replicas of the changelog and board topics it creates")
    publish_interval_s: float = Field(0.05, gt=0, description="How often changed board rows are published")
    broker_session_timeout_s: float = Field(30.0, gt=0)
    timezone: str = "America/Montreal"
    """Days, months and hours of the board are those of this zone."""
    standard_bounds_s: BoundsSetting = Field(
        default_factory=dict,
        description="Regional delay bounds overriding Annexe II, in seconds, each from the date it takes effect (the "
        "referral service's format: services/referral/settings.py)",
    )
    aaor_max_meetings: int = Field(DurationPolicy.aaor_max_meetings, ge=1)
    consult_max_meetings: int = Field(DurationPolicy.consult_max_meetings, ge=1)
    infosocial_answer_s: int = Field(240, ge=1)
    infosocial_target_pct: float = Field(90.0, gt=0, le=100)
    aaor_weekly_hours: float = Field(HoursPolicy.aaor_weekly_hours, gt=0, le=168)
    evening_from: str = Field(HoursPolicy.evening_from, pattern=CLOCK_TIME)
    """Weekday hours from this time on are evening hours (AAOR must offer some)."""
    day_from: str = Field(HoursPolicy.day_from, pattern=CLOCK_TIME)
    """Weekday hours from this time until the evening are daytime hours (AAOR must offer some)."""

    @field_validator("standard_bounds_s")
    @classmethod
    def _bounds_are_bounds(cls, bounds: BoundsSetting) -> BoundsSetting:
        return check_bounds(bounds, "STANDARDS_STANDARD_BOUNDS_S")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def bounds(self) -> Bounds:
        return Bounds(
            delays=policy_of(self.standard_bounds_s, zone=self.zone),
            durations=DurationPolicy(self.aaor_max_meetings, self.consult_max_meetings),
            answer_within_s=self.infosocial_answer_s,
            answer_target_pct=self.infosocial_target_pct,
            hours=HoursPolicy(self.aaor_weekly_hours, self.evening_from, self.day_from),
            zone=self.zone,
        )
