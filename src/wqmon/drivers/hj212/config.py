"""The HJ 212 server's configuration, taken from the `WQMON_HJ212_*` settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wqmon.settings import Settings


class Hj212Config(BaseModel):
    """Listener, limits and timeouts of the HJ 212 server (meanings: `wqmon.settings`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(9212, ge=0, le=65535)  # 0: any free port (tests)
    idle_timeout_s: float = Field(600.0, gt=0)
    write_timeout_s: float = Field(10.0, gt=0)
    max_segment: int = Field(4096, ge=1024)
    max_connections_per_peer: int = Field(100, ge=1)
    # Pending connections the kernel queues for accept() (capped by net.core.somaxconn). A
    # province's loggers reconnect together after an outage: asyncio's default of 100 overflows,
    # and every overflowed SYN waits out a 1 s, 3 s, 7 s ... retransmission (docs/scaling.md).
    backlog: int = Field(4096, ge=1)
    max_faults_per_connection: int = Field(50, ge=1)
    reassembly_timeout_s: float = Field(60.0, gt=0)
    reply_timeout_s: float = Field(30.0, gt=0)
    history_timeout_s: float = Field(600.0, gt=0)
    gap_fill_after_s: float = Field(3600.0, ge=0)
    command_poll_s: float = Field(30.0, gt=0)
    # Where `wqmon hj212 backfill` leaves its commands; None: no command worker (unit tests).
    command_database_url: str | None = None
    key_grace_days: float = Field(7.0, ge=0)  # a superseded SM4 key is accepted this long
    key_refresh_s: float = Field(30.0, gt=0)  # keys changed elsewhere are looked for this often
    logger_flush_s: float = Field(5.0, gt=0)  # editions and last-heard times written this often

    @classmethod
    def from_settings(cls, settings: Settings) -> Hj212Config:
        """The `WQMON_HJ212_*` settings; commands come from the ingest database."""
        return cls(
            host=settings.hj212_host,
            port=settings.hj212_port,
            idle_timeout_s=settings.hj212_idle_timeout_s,
            write_timeout_s=settings.hj212_write_timeout_s,
            max_segment=settings.hj212_max_segment,
            max_connections_per_peer=settings.hj212_max_connections_per_peer,
            backlog=settings.hj212_backlog,
            max_faults_per_connection=settings.hj212_max_faults_per_connection,
            reassembly_timeout_s=settings.hj212_reassembly_timeout_s,
            reply_timeout_s=settings.hj212_reply_timeout_s,
            history_timeout_s=settings.hj212_history_timeout_s,
            gap_fill_after_s=settings.hj212_gap_fill_after_s,
            command_poll_s=settings.hj212_command_poll_s,
            command_database_url=settings.database_url,
            key_grace_days=settings.hj212_key_grace_days,
            key_refresh_s=settings.hj212_key_refresh_s,
        )
