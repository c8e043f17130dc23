"""The HJ 212 server driver over real loopback TCP, against the real pipeline and database.

Uploads of every kind land with the right values, units and UTC times; `9014` comes only where
asked and only after commit (shown by holding a lock on the reading table); refused input is
dead-lettered with its reason and never answered; a resend stores nothing twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.integration.hj212_harness import (
    ENT06,
    PERIODS_SQL,
    READINGS_SQL,
    T0,
    TZ,
    WWTP01_INLET,
    WWTP04_INLET,
    Server,
    acked_qns,
    has_ack,
    running_server,
    upload_frame,
)
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.builder import CpObjects
from wqmon.protocol.hj212.crc import modbus_crc16
from wqmon.protocol.hj212.packet import Packet, parse_segment

RTD: CpObjects = {
    "w00000": {"Rtd": 10.0, "Flag": "N"},  # L/s -> 36 m³/h
    "w01018": {"Rtd": 45.2, "Flag": "N"},
    "w21003": {"Rtd": 1.5, "Flag": "N"},
    "w01001": {"Rtd": 7.2, "Flag": "N"},
}


@pytest.fixture
async def server(registry_db_url: str) -> AsyncIterator[Server]:
    async with running_server(registry_db_url) as srv:
        yield srv


async def test_realtime_upload_lands_in_canonical_units_and_utc(server: Server) -> None:
    data_time = datetime(2025, 3, 1, 8, 0, 30, tzinfo=TZ)  # DataTime is site-local time
    async with server.logger(ENT06) as logger:
        [result] = await logger.send_realtime(data_time, RTD, flag=5)
    assert result.acked
    utc = datetime(2025, 3, 1, 0, 0, 30, tzinfo=UTC)
    assert await server.rows(READINGS_SQL) == [
        ("ENT-06", "outfall", "w00000", utc, pytest.approx(36.0), "N"),
        ("ENT-06", "outfall", "w01001", utc, pytest.approx(7.2), "N"),
        ("ENT-06", "outfall", "w01018", utc, pytest.approx(45.2), "N"),
        ("ENT-06", "outfall", "w21003", utc, pytest.approx(1.5), "N"),
    ]
    state = server.driver.state.loggers[ENT06[0]]
    assert (state.site, state.point, state.readings, state.acks) == ("ENT-06", "outfall", 4, 1)


@pytest.mark.parametrize("flag", [4, 5])
async def test_minute_hour_and_day_uploads_become_period_records(server: Server, flag: int) -> None:
    stats: CpObjects = {
        "w00000": {"Avg": 17.5, "Min": 10.0, "Max": 20.0, "Cou": 63.0, "Flag": "N"},
        "w01018": {"Avg": 30.0, "Min": 28.0, "Max": 32.0, "Cou": 1.89, "Flag": "N"},
    }
    async with server.logger(ENT06) as logger:
        for send in (logger.send_minute, logger.send_hour, logger.send_day):
            [result] = await send(T0, stats, flag=flag)
            assert result.acked is (flag == 5)
        rows = await server.wait_rows(PERIODS_SQL, 6)
        # A later packet that asks for an answer shows the earlier ones were handled.
        [probe] = await logger.send_realtime(T0, {"w01018": {"Rtd": 1.0}}, flag=5)
        assert probe.acked
        assert len(acked_qns(logger)) == (4 if flag == 5 else 1)
    by_period = {(r[3], r[2]): r[4:] for r in rows}
    assert set(by_period) == {(p, c) for p in ("minute", "hour", "day") for c in stats}
    for period in ("minute", "hour", "day"):
        ts, avg, low, high, cou, flag_text = by_period[(period, "w00000")]
        assert ts == T0
        assert (avg, low, high, cou) == pytest.approx((63.0, 36.0, 72.0, 63.0))  # L/s→m³/h
        assert flag_text == "N"
        assert by_period[(period, "w01018")][1:5] == pytest.approx((30.0, 28.0, 32.0, 1.89))


async def test_split_upload_is_answered_per_piece_after_the_merged_commit(
    server: Server,
) -> None:
    hour: CpObjects = {
        "w00000": {"Avg": 17.5, "Cou": 63.0},
        "w01018": {"Avg": 30.0, "Cou": 1.89},
        "w21003": {"Avg": 2.0, "Cou": 0.126},
        "w01001": {"Avg": 7.1},
    }
    async with server.logger(ENT06) as logger:
        results = await logger.send_hour(T0, hour, flag=5, codes_per_packet=2)
        assert [r.acked for r in results] == [True, True]
        assert [p.header.get("PNO") for p in map(_parse, logger.sent)] == ["1", "2"]
        rows = await server.rows(PERIODS_SQL)
        # Flag 6 (split, no answer): stored, never answered.
        await logger.send_hour(T0 + timedelta(hours=1), hour, flag=4, codes_per_packet=2)
        await server.wait_rows(PERIODS_SQL, 8)
    assert sorted(r[2] for r in rows) == ["w00000", "w01001", "w01018", "w21003"]
    assert acked_qns(logger) == [r.qn for r in results]


async def test_pieces_without_data_time_are_answered_after_the_merged_commit(
    server: Server,
) -> None:
    head = f"ST=32;CN=2061;PW={ENT06[1]};MN={ENT06[0]};Flag=7;PNUM=2"
    first = f"QN=20250301080000101;{head};PNO=1;CP=&&DataTime=20250301080000;w00000-Avg=17.5&&"
    second = f"QN=20250301080000102;{head};PNO=2;CP=&&w01018-Avg=30.0,w01018-Cou=1.89&&"
    async with server.logger(ENT06) as logger:
        await logger.send_raw(builder.build_frame(first))
        await logger.wait_for(has_ack("20250301080000101"), timeout_s=20)
        await logger.send_raw(builder.build_frame(second))
        await logger.wait_for(has_ack("20250301080000102"), timeout_s=20)
    rows = await server.rows(PERIODS_SQL)
    assert [(r[2], r[3], r[4], r[5]) for r in rows] == [
        ("w00000", "hour", T0, pytest.approx(63.0)),
        ("w01018", "hour", T0, pytest.approx(30.0)),
    ]


async def test_9014_is_sent_only_after_commit(server: Server) -> None:
    frame, qn = upload_frame(ENT06, builder.CN_REALTIME, T0, RTD)
    async with (
        await psycopg.AsyncConnection.connect(server.db_url) as holder,
        server.logger(ENT06) as logger,
    ):
        async with holder.transaction(force_rollback=True):
            await holder.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")
            await logger.send_raw(frame)
            await _wait_for_writer_blocked_on_lock(server)
            assert acked_qns(logger) == []  # the data is not committed, so no answer yet
        await logger.wait_for(has_ack(qn), timeout_s=20)
    assert len(await server.rows(READINGS_SQL)) == 4


async def _wait_for_writer_blocked_on_lock(server: Server) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    await server.wait_rows(f"SELECT 1 FROM ({sql}) s WHERE count > 0", 1)


async def test_refused_packets_are_dead_lettered_and_never_answered(server: Server) -> None:
    good, good_qn = upload_frame(ENT06, builder.CN_REALTIME, T0, RTD, qn="20250301080000009")
    bad_crc = _with_wrong_crc(upload_frame(ENT06, builder.CN_REALTIME, T0, RTD)[0])
    unknown = upload_frame(("FFFF0000FFFF", "123456"), builder.CN_REALTIME, T0, RTD)[0]
    wrong_pw = upload_frame((ENT06[0], "999999"), builder.CN_REALTIME, T0, RTD)[0]
    modbus = _with_modbus_crc(upload_frame(ENT06, builder.CN_REALTIME, T0, RTD)[0])
    async with server.logger(ENT06) as logger:
        for frame in (bad_crc, unknown, wrong_pw, modbus, b"\x00garbage\x01", good):
            await logger.send_raw(frame)
        await logger.wait_for(has_ack(good_qn), timeout_s=20)
    rows = await server.wait_rows("SELECT reason, detail FROM dead_letter ORDER BY id", 5)
    assert sorted(r[0] for r in rows) == sorted(
        ["bad_crc", "unknown_mn", "wrong_password", "bad_crc", "garbage"]
    )
    assert any("MODBUS" in detail for reason, detail in rows if reason == "bad_crc")
    assert acked_qns(logger) == [good_qn]
    assert len(await server.rows(READINGS_SQL)) == 4
    faults = server.driver.state.faults
    assert faults == {"bad_crc": 2, "unknown_mn": 1, "wrong_password": 1, "garbage": 1}


async def test_modbus_crc_is_accepted_where_the_point_allows_it(server: Server) -> None:
    frame, qn = upload_frame(WWTP04_INLET, builder.CN_REALTIME, T0, RTD)
    async with server.logger(WWTP04_INLET) as logger:
        await logger.send_raw(_with_modbus_crc(frame))
        await logger.wait_for(has_ack(qn), timeout_s=20)
    assert {r[:3] for r in await server.rows(READINGS_SQL)} == {
        ("WWTP-04", "inlet", code) for code in RTD
    }
    assert server.driver.state.loggers[WWTP04_INLET[0]].modbus_crc == 1


async def test_a_resent_packet_stores_nothing_twice(server: Server) -> None:
    frame, qn = upload_frame(ENT06, builder.CN_REALTIME, T0, RTD)
    async with server.logger(ENT06) as logger:
        for attempt in (1, 2, 3):
            await logger.send_raw(frame)  # same QN, same data: a logger that missed the 9014
            await logger.wait_for(has_ack(qn, times=attempt), timeout_s=20)
    assert await server.count("reading") == 4
    state = server.driver.state.loggers[ENT06[0]]
    assert (state.readings, state.duplicates, state.acks) == (4, 8, 3)


async def test_packet_without_flag_is_answered_and_2005_codes_map(server: Server) -> None:
    old_codes: CpObjects = {"B01": {"Rtd": 5.0}, "011": {"Rtd": 80.0, "Flag": "N"}}
    frame, qn = upload_frame(WWTP04_INLET, builder.CN_REALTIME, T0, old_codes, flag=None)
    async with server.logger(WWTP04_INLET) as logger:
        await logger.send_raw(frame)
        await logger.wait_for(has_ack(qn), timeout_s=20)
    values = {r[2]: r[4] for r in await server.rows(READINGS_SQL)}
    assert values == pytest.approx({"w00000": 18.0, "w01018": 80.0})


async def test_process_e_codes_are_routed_to_the_inlet_and_outlet_points(server: Server) -> None:
    objects: CpObjects = {
        "e10101": {"Rtd": 100.0},  # inlet flow, L/s
        "e10201": {"Rtd": 250.0},  # inlet COD
        "e20201": {"Rtd": 20.0},  # outlet COD
    }
    frame, qn = upload_frame(WWTP01_INLET, builder.CN_REALTIME, T0, objects, st="52")
    async with server.logger(WWTP01_INLET) as logger:
        await logger.send_raw(frame)
        await logger.wait_for(has_ack(qn), timeout_s=20)
    assert {r[:3]: r[4] for r in await server.rows(READINGS_SQL)} == pytest.approx(
        {
            ("WWTP-01", "inlet", "w00000"): 360.0,
            ("WWTP-01", "inlet", "w01018"): 250.0,
            ("WWTP-01", "outlet", "w01018"): 20.0,
        }
    )


async def test_unit_check_failure_is_counted_and_the_data_kept(server: Server) -> None:
    hour: CpObjects = {"w00000": {"Avg": 17.5, "Cou": 63.0}, "w01018": {"Avg": 30.0, "Cou": 99.0}}
    async with server.logger(ENT06) as logger:
        [result] = await logger.send_hour(T0, hour, flag=5)
    assert result.acked
    assert len(await server.rows(PERIODS_SQL)) == 2
    state = server.driver.state.loggers[ENT06[0]]
    assert state.errors == 1
    assert state.last_error.startswith("unit check: w01018")


def _parse(frame: bytes) -> Packet:
    return parse_segment(frame[6:].rstrip(b"\r\n")[:-4])


def _with_wrong_crc(frame: bytes) -> bytes:
    body = frame.rstrip(b"\r\n")
    return body[:-4] + f"{int(body[-4:], 16) ^ 0x5A5A:04X}".encode() + b"\r\n"


def _with_modbus_crc(frame: bytes) -> bytes:
    body = frame.rstrip(b"\r\n")
    crc = modbus_crc16(body[6:-4])
    return body[:-4] + f"{crc & 0xFF:02X}{crc >> 8:02X}".encode() + b"\r\n"
