"""The Modbus driver's own configuration (the buses and devices come from the registry).

Not to be confused with `wqmon.protocol.modbus.config.ModbusConfig`, the registry's snapshot of
buses and bindings that the driver polls.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wqmon.settings import Settings


class ModbusDriverConfig(BaseModel):
    """How the Modbus driver runs; `WQMON_MODBUS_ENABLED` decides whether it runs at all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reload_check_s: float = Field(1.0, gt=0)  # how often it looks for changed bindings

    @classmethod
    def from_settings(cls, settings: Settings) -> ModbusDriverConfig:  # noqa: ARG003 - uniform
        """The driver's configuration; nothing in it is a setting yet."""
        return cls()
