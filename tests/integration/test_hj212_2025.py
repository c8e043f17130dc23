"""HJ 212-2025 end to end: one port, real TCP, real TimescaleDB, keys set with the CLI.

A 2017 logger, a plain 2025 logger and an encrypted 2025 logger report on one listener; each is
stored, answered in its own edition, and its edition is visible per MN in the API. A key rotation
(`wqmon hj212 key set` twice) keeps both keys working while packets under the old one are in
flight; a wrong key is dead-lettered and never answered; RF=1 data is stored and marked late; a
1001 from an unknown logger is a pending device for admins until `wqmon hj212 activate`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api import running_api
from tests.integration.hj212_harness import (
    ENT06,
    READINGS_SQL,
    TZ,
    WWTP01_INLET,
    Server,
    running_server,
)
from wqmon.api.keys import create_key
from wqmon.cli import main
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.sm4 import key_id
from wqmon.registry.importer import import_file
from wqmon.settings import Settings

WWTP01_OUTLET = ("010000A8900016F000169DC1", "123456")
KEY_A, KEY_B = bytes.fromhex("00112233445566778899AABBCCDDEEFF"), b"0" * 16
COD: builder.CpObjects = {
    "w00000": {"Rtd": 10.0, "Flag": "N"},
    "w01018": {"Rtd": 45.0, "Flag": "N"},  # 45 ≥ 16 characters of CP: encrypted blocks
}


@pytest.fixture
def db(db_url: str) -> str:
    import_file(db_url, EXAMPLE_REGISTRY)
    return db_url


@pytest.fixture
async def server(db: str) -> AsyncIterator[Server]:
    async with running_server(db) as srv:
        yield srv


def cli(monkeypatch: pytest.MonkeyPatch, db: str, *args: str) -> int:
    monkeypatch.setenv("WQMON_DATABASE_URL", db)
    return main(list(args))


def objects(cod: float) -> builder.CpObjects:
    return {**COD, "w01018": {"Rtd": cod, "Flag": "N"}}


async def test_2017_plain_2025_and_encrypted_2025_on_one_port(
    server: Server, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(monkeypatch, db, "hj212", "key", "set", "--mn", WWTP01_OUTLET[0], "--key", KEY_A.hex())
        == 0
    )
    assert KEY_A.hex() not in capsys.readouterr().out.lower()
    t = datetime(2026, 3, 1, 8, 0, 30, tzinfo=TZ)
    old = server.logger(ENT06)
    plain = server.logger(WWTP01_INLET, edition=2025)
    secret = server.logger(WWTP01_OUTLET, edition=2025, key=KEY_A)
    async with old, plain, secret:
        results = await asyncio.gather(
            old.send_realtime(t, objects(41.0)),
            plain.send_realtime(t, objects(42.0)),
            secret.send_realtime(t, objects(43.0)),
        )
    assert [r.acked for (r,) in results] == [True, True, True]
    assert b"{0x" in secret.sent[0]
    assert b"{0x" not in plain.sent[0]
    answers = {
        lg.mn: next(p for p in lg.received if p.cn == "9014").flag for lg in (old, plain, secret)
    }
    assert answers == {ENT06[0]: 4, WWTP01_INLET[0]: 8, WWTP01_OUTLET[0]: 8}
    cod = [(s, p, v) for s, p, c, _, v, _ in await server.rows(READINGS_SQL) if c == "w01018"]
    assert cod == [
        ("ENT-06", "outfall", 41.0),
        ("WWTP-01", "inlet", 42.0),
        ("WWTP-01", "outlet", 43.0),
    ]
    await server.driver.flush_loggers()
    settings = Settings(database_url=db)
    operator = create_key(db, name="op", role="operator")
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base) as client:
        resp = await client.get("/api/v1/hj212/loggers", headers={"X-API-Key": operator})
    assert resp.status_code == 200, resp.text
    seen = {
        row["mn"]: (row["version"], row["encrypted"], row["key_id"], row["online"])
        for row in resp.json()
    }
    assert seen == {
        ENT06[0]: ("2017", False, None, True),
        WWTP01_INLET[0]: ("2025", False, None, True),
        WWTP01_OUTLET[0]: ("2025", True, key_id(KEY_A), True),
    }


async def test_rotation_with_both_keys_in_flight_and_a_wrong_key_dead_lettered(
    server: Server, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mn = WWTP01_OUTLET[0]
    assert cli(monkeypatch, db, "hj212", "key", "set", "--mn", mn, "--key", KEY_A.hex()) == 0
    t = datetime(2026, 3, 1, 9, 0, 0, tzinfo=TZ)
    async with server.logger(WWTP01_OUTLET, edition=2025, key=KEY_A) as logger:
        [first] = await logger.send_realtime(t, objects(50.0))
        assert first.acked
        # Rotate: key B in force, key A in grace. Two connections, one per key, at once.
        assert cli(monkeypatch, db, "hj212", "key", "set", "--mn", mn, "--key", KEY_B.hex()) == 0
        newer = server.logger(WWTP01_OUTLET, edition=2025, key=KEY_B)
        async with newer:
            both = await asyncio.gather(
                logger.send_realtime(t + timedelta(minutes=1), objects(51.0)),
                newer.send_realtime(t + timedelta(minutes=2), objects(52.0)),
            )
        assert [r.acked for (r,) in both] == [True, True]
    capsys.readouterr()
    assert cli(monkeypatch, db, "hj212", "key", "list", "--mn", mn) == 0
    listing = capsys.readouterr().out
    assert f"{mn}  {key_id(KEY_B)}" in listing
    assert "current" in listing
    assert f"{mn}  {key_id(KEY_A)}" in listing
    assert "previous" in listing
    assert KEY_A.hex() not in listing.lower()
    assert KEY_B.hex() not in listing.lower()
    wrong = server.logger(WWTP01_OUTLET, edition=2025, key=b"\x01" * 16, ack_timeout_s=1.0)
    async with wrong:
        [refused] = await wrong.send_realtime(t + timedelta(minutes=3), objects(53.0))
    assert not refused.acked
    letters = await server.wait_rows(
        "SELECT reason, detail FROM dead_letter WHERE reason = 'decrypt_failed'", 1
    )
    assert "does not decrypt to a valid data segment" in letters[0][1]
    cod = sorted(v for _, _, c, _, v, _ in await server.rows(READINGS_SQL) if c == "w01018")
    assert cod == [50.0, 51.0, 52.0]


async def test_late_data_is_stored_marked_and_queryable(server: Server, db: str) -> None:
    t = datetime(2026, 3, 1, 6, 0, 0, tzinfo=TZ)
    async with server.logger(WWTP01_INLET, edition=2025) as logger:
        [live] = await logger.send_realtime(t + timedelta(hours=2), objects(60.0))
        [late] = await logger.send_upload(builder.CN_REALTIME, t, objects(61.0), resent=True)
    assert live.acked
    assert late.acked
    rows = await server.rows(
        "SELECT r.value, r.source FROM reading r JOIN channel c ON c.id = r.channel_id"
        " WHERE c.parameter = 'w01018' ORDER BY r.ts"
    )
    assert rows == [(61.0, "hj212-late"), (60.0, "hj212")]
    # Rolled up like any data: the late reading's hour (06:00 local = 22:00 UTC) has its row.
    hour_sql = (
        "SELECT h.hour, h.parameter FROM point_hour h JOIN point p ON p.id = h.point_id"
        " JOIN site s ON s.id = p.site_id WHERE s.code = 'WWTP-01' AND p.code = 'inlet'"
        " AND h.hour = '2026-02-28T22:00:00Z'"
    )
    rolled = await server.wait_rows(hour_sql, 1, timeout_s=60)
    assert {parameter for _, parameter in rolled} >= {"w00000"}
    settings = Settings(database_url=db)
    operator = create_key(db, name="op", role="operator")
    params = {
        "site": "WWTP-01",
        "point": "inlet",
        "parameter": "cod",
        "from": "2026-02-28T00:00:00Z",
        "to": "2026-03-02T00:00:00Z",
    }
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base) as client:
        headers = {"X-API-Key": operator}
        every = (await client.get("/api/v1/readings", params=params, headers=headers)).json()
        only_late = (
            await client.get("/api/v1/readings", params={**params, "late": "true"}, headers=headers)
        ).json()
    assert [(p["value"], p["late"]) for p in every["series"][0]["points"]] == [
        (61.0, True),
        (60.0, False),
    ]
    assert [p["value"] for p in only_late["series"][0]["points"]] == [61.0]


async def test_unknown_logger_is_pending_until_activated_then_gets_1002(
    server: Server, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = ["DL-2025-0001", "CPU-9", "00:11:22:33:44:55", "00:11:22:33:44:56"]
    hello = builder.hardware_upload(qn="20260301080000001", mn="NEW", pw="", identity=identity)
    async with server.logger(("NEW", ""), edition=2025) as logger:
        await logger.send_raw(hello)
        await logger.wait_for(lambda lg: any(p.cn == "9014" for p in lg.received), 10)
    admin = create_key(db, name="admin", role="admin")
    operator = create_key(db, name="op", role="operator")
    async with (
        running_api(Settings(database_url=db)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        pending = await client.get("/api/v1/hj212/devices", headers={"X-API-Key": admin})
        forbidden = await client.get("/api/v1/hj212/devices", headers={"X-API-Key": operator})
    assert forbidden.status_code == 403
    [device] = pending.json()
    assert (device["hardware_id"], device["state"], device["mac1"]) == (
        "DL-2025-0001",
        "pending",
        identity[2],
    )
    assert (
        cli(monkeypatch, db, "hj212", "activate", "--hardware", "DL-2025-0001", "--mn", "NOPE") == 2
    )
    assert (
        cli(
            monkeypatch,
            db,
            "hj212",
            "activate",
            "--hardware",
            "DL-2025-0001",
            "--mn",
            WWTP01_INLET[0],
        )
        == 0
    )
    async with server.logger(("NEW", ""), edition=2025) as logger:
        await logger.send_raw(hello)
        await logger.wait_for(lambda lg: any(p.cn == "1002" for p in lg.received), 10)
        set_mn = next(p for p in logger.received if p.cn == "1002")
    assert set_mn.mn == WWTP01_INLET[0]
    assert set_mn.cp.items["i23005"]["Info"] == "DL-2025-0001"
    rows = await server.wait_rows(
        "SELECT d.state, s.code, p.code FROM hj212_device d JOIN point p ON p.id = d.point_id"
        " JOIN site s ON s.id = p.site_id WHERE d.state = 'activated'",
        1,
    )
    assert rows == [("activated", "WWTP-01", "inlet")]


async def test_2062_checks_and_heartbeats_reach_the_database_and_the_api(
    server: Server, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        cli(monkeypatch, db, "hj212", "key", "set", "--mn", WWTP01_OUTLET[0], "--key", KEY_A.hex())
        == 0
    )
    t = datetime(2026, 3, 1, 10, 0, 0, tzinfo=TZ)
    async with server.logger(WWTP01_OUTLET, edition=2025, key=KEY_A) as logger:
        check = await logger.send_standard_check(
            t, {"w01018": (48.7, 50.0, True), "w21003": (3.1, 5.0, False)}
        )
        beat = await logger.send_heartbeat()
    assert check.acked
    assert b"{0x" in logger.sent[0]
    assert beat is not None
    assert (beat.cn, beat.flag) == ("9013", 8)
    await server.driver.flush_loggers()
    operator = create_key(db, name="op", role="operator")
    async with (
        running_api(Settings(database_url=db)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        headers = {"X-API-Key": operator}
        params = {"site": "WWTP-01", "from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}
        checks = (
            await client.get("/api/v1/hj212/standard-checks", params=params, headers=headers)
        ).json()
        loggers = (await client.get("/api/v1/hj212/loggers", headers=headers)).json()
    assert [
        (c["point"], c["parameter"], c["measured"], c["standard"], c["passed"]) for c in checks
    ] == [
        ("outlet", "w01018", 48.7, 50.0, True),
        ("outlet", "w21003", 3.1, 5.0, False),
    ]
    assert checks[0]["ts"] == "2026-03-01T02:00:00Z"
    (outlet,) = [row for row in loggers if row["mn"] == WWTP01_OUTLET[0]]
    assert outlet["last_heartbeat_at"] is not None
    assert outlet["online"] is True
    assert await server.count("reading") == 0  # neither a check nor a heartbeat is a reading
