"""`wqmon registry import FILE`: upsert the registry into the database, idempotently.

A second import of the same file changes nothing; an edited file updates rows in place. Rows are
never deleted (readings refer to channels): a parameter dropped from a point deactivates its
channel, and a gateway's site list is replaced by the file's. A Modbus bus dropped from the file is
deactivated; a point's Modbus bindings are replaced by the file's, with each device's map from
profile points to parameters resolved here (docs/modbus.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, literal_column, pool, select, update
from sqlalchemy.dialects.postgresql import insert

from wqmon.parameters import resolve
from wqmon.protocol.modbus.bindings import resolve_map
from wqmon.protocol.modbus.profiles import load_profile
from wqmon.registry.schema import PointSpec, RegistryFile, parse_registry, resolve_limits
from wqmon.settings import sqlalchemy_url
from wqmon.store.tables import (
    channel,
    gateway,
    gateway_site,
    modbus_bus,
    point,
    region,
    region_year,
    site,
)


@dataclass
class ImportSummary:
    """Counts of rows created and updated per kind."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deactivated: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        kinds = ["region", "region_year", "site", "point", "channel", "gateway", "modbus_bus"]
        parts = [f"{k}: {self.created[k]} new, {self.updated[k]} updated" for k in kinds]
        if self.deactivated:
            parts.append(f"channels deactivated: {self.deactivated['channel']}")
        return "; ".join(parts)


_INSERTED: Any = literal_column("(xmax = 0)").label("inserted")  # true when the row is new


def _upsert(
    conn: Connection, table: Any, values: dict[str, Any], keys: list[str], returning: Any = None
) -> Any:
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: stmt.excluded[k] for k in values if k not in keys}
    )
    cols = [_INSERTED] + ([returning] if returning is not None else [])
    return conn.execute(stmt.returning(*cols)).one()


def _count(summary: ImportSummary, kind: str, inserted: bool) -> None:
    (summary.created if inserted else summary.updated)[kind] += 1


def _import_regions(conn: Connection, reg: RegistryFile, summary: ImportSummary) -> None:
    for r in reg.regions:  # first without parents, so the order in the file does not matter
        row = _upsert(conn, region, {"code": r.code, "name": r.name, "kind": r.kind}, ["code"])
        _count(summary, "region", row.inserted)
    for r in reg.regions:
        conn.execute(update(region).where(region.c.code == r.code).values(parent_code=r.parent))
        for year, figures in r.years.items():
            values = {"region_code": r.code, "year": year, **figures.model_dump()}
            row = _upsert(conn, region_year, values, ["region_code", "year"])
            _count(summary, "region_year", row.inserted)


def _import_channels(
    conn: Connection, point_id: int, spec: PointSpec, summary: ImportSummary
) -> None:
    limits = resolve_limits(spec)
    wanted: list[str] = []
    for name in spec.parameters:
        param = resolve(name)  # known: checked by the schema
        wanted.append(param.code)
        limit = limits.get(param.code)
        values = {
            "point_id": point_id,
            "parameter": param.code,
            "unit": param.unit,
            "limit_value": limit.max if limit else None,
            "limit_min": limit.min if limit else None,
            "limit_source": (spec.limits if isinstance(spec.limits, str) else "custom")
            if limit
            else None,
            "active": True,
        }
        row = _upsert(conn, channel, values, ["point_id", "parameter"])
        _count(summary, "channel", row.inserted)
    gone = conn.execute(
        update(channel)
        .where(channel.c.point_id == point_id, channel.c.parameter.not_in(wanted), channel.c.active)
        .values(active=False)
    )
    summary.deactivated["channel"] += gone.rowcount


def _import_modbus_buses(conn: Connection, reg: RegistryFile, summary: ImportSummary) -> None:
    for bus in reg.modbus_buses:
        values = {
            **bus.model_dump(exclude={"message_wait_ms"}),
            "message_wait_ms": round(bus.message_wait_s * 1000),
            "active": True,
        }
        row = _upsert(conn, modbus_bus, values, ["id"])
        _count(summary, "modbus_bus", row.inserted)
    kept = [bus.id for bus in reg.modbus_buses]
    conn.execute(
        update(modbus_bus)
        .where(modbus_bus.c.id.not_in(kept), modbus_bus.c.active)
        .values(active=False)
    )


def _modbus_bindings(spec: PointSpec) -> list[dict[str, Any]]:
    """The point's devices as stored in `point.modbus`, maps resolved to parameter codes."""
    return [
        {
            **device.model_dump(exclude={"map"}),
            "map": resolve_map(load_profile(device.profile), spec.parameters, device.map),
        }
        for device in spec.modbus
    ]


def _import_sites(conn: Connection, reg: RegistryFile, summary: ImportSummary) -> None:
    for s in reg.sites:
        values = {
            "code": s.code,
            "name": s.name or s.code,
            "kind": s.kind,
            "region_code": s.region,
            "capacity_m3_per_day": s.capacity_m3_per_day,
            "timezone": s.timezone,
            "permit": s.permit,
            "permit_parameters": [resolve(n).code for n in s.permit_parameters],
            "active": True,
        }
        row = _upsert(conn, site, values, ["code"], site.c.id)
        _count(summary, "site", row.inserted)
        for p in s.points:
            hj = p.hj212
            pvalues = {
                "site_id": row.id,
                "code": p.code,
                "name": p.name,
                "role": p.role,
                "discharges_to": p.discharges_to,
                "hj212_mn": hj.mn if hj else None,
                "hj212_password": hj.password if hj else None,
                "hj212_options": {
                    "accept_modbus_crc": hj.accept_modbus_crc,
                    "codes": hj.codes,
                    "require_encryption": hj.require_encryption,
                }
                if hj
                else {},
                "modbus": _modbus_bindings(p),
            }
            prow = _upsert(conn, point, pvalues, ["site_id", "code"], point.c.id)
            _count(summary, "point", prow.inserted)
            _import_channels(conn, prow.id, p, summary)


def _import_gateways(conn: Connection, reg: RegistryFile, summary: ImportSummary) -> None:
    site_ids: dict[str, int] = {
        row.code: row.id for row in conn.execute(select(site.c.code, site.c.id))
    }
    for g in reg.gateways:
        row = _upsert(conn, gateway, {"id": g.id, "name": g.name, "active": True}, ["id"])
        _count(summary, "gateway", row.inserted)
        conn.execute(gateway_site.delete().where(gateway_site.c.gateway_id == g.id))
        for code in g.sites:
            conn.execute(insert(gateway_site).values(gateway_id=g.id, site_id=site_ids[code]))


def import_registry(conn: Connection, registry: RegistryFile) -> ImportSummary:
    """Upsert a validated registry on an open connection (the caller commits)."""
    summary = ImportSummary()
    _import_regions(conn, registry, summary)
    _import_modbus_buses(conn, registry, summary)
    _import_sites(conn, registry, summary)
    _import_gateways(conn, registry, summary)
    return summary


def import_file(database_url: str, path: Path) -> ImportSummary:
    """Validate a registry file and import it in one transaction."""
    registry = parse_registry(path.read_text(encoding="utf-8"), source=str(path))
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            return import_registry(conn, registry)
    finally:
        engine.dispose()
