"""The `wqmon` command line (docs/contracts.md §1): one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from wqmon import __version__
from wqmon.errors import ConfigError, WqmonError
from wqmon.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from wqmon.store.migrate import migrate  # noqa: PLC0415 - keep `wqmon --help` fast

    mode = migrate(settings)
    print(f"migrated: {mode.describe()}")
    return 0


def _registry_import(args: argparse.Namespace, settings: Settings) -> int:
    from wqmon.registry.importer import import_file  # noqa: PLC0415

    summary = import_file(settings.database_url, Path(args.file))
    print(f"imported {args.file}: {summary.describe()}")
    return 0


def _ingest(_args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # noqa: PLC0415

    from wqmon.services.drivers import build_drivers  # noqa: PLC0415
    from wqmon.services.ingest import IngestService, run_until_signalled  # noqa: PLC0415

    asyncio.run(run_until_signalled(IngestService(settings, build_drivers(settings))))
    return 0


def _cli_time(text: str, tz_name: str) -> datetime:
    """An ISO-8601 time; without an offset it is the site's local time (as loggers speak)."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz_name))


def _hj212_backfill(args: argparse.Namespace, settings: Settings) -> int:
    import time  # noqa: PLC0415

    from wqmon.store import hj212_commands as commands  # noqa: PLC0415

    tz_name = commands.site_timezone(settings.database_url, args.mn)
    begin, end = _cli_time(args.begin, tz_name), _cli_time(args.end, tz_name)
    if end < begin:
        print("wqmon: error: --to is before --from", file=sys.stderr)
        return 2
    command_id = commands.enqueue_backfill(settings.database_url, args.mn, args.cn, begin, end)
    print(f"hj212 command {command_id}: CN {args.cn} {begin.isoformat()} .. {end.isoformat()}")
    deadline = time.monotonic() + args.wait
    state, detail = commands.command_status(settings.database_url, command_id)
    while state in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        state, detail = commands.command_status(settings.database_url, command_id)
    print(f"hj212 command {command_id}: {state} {detail}".rstrip())
    return 0 if state in ("done", "pending", "running") else 1


def _read_key(args: argparse.Namespace) -> bytes:
    """The key from --key or --key-file (first line), checked: 32 hex characters."""
    from wqmon.protocol.hj212.sm4 import parse_key  # noqa: PLC0415

    text = args.key if args.key is not None else Path(args.key_file).read_text(encoding="ascii")
    return parse_key(text.strip().splitlines()[0] if text.strip() else "")


def _hj212_key_set(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC  # noqa: PLC0415

    from wqmon.protocol.hj212.sm4 import BadKey  # noqa: PLC0415
    from wqmon.store.hj212_keys import set_key  # noqa: PLC0415

    try:
        key = _read_key(args)
    except (BadKey, OSError, UnicodeDecodeError) as exc:
        print(f"wqmon: error: {exc}", file=sys.stderr)
        return 2
    kid = set_key(settings.database_url, args.mn, key, datetime.now(UTC))
    grace = settings.hj212_key_grace_days
    print(f"MN {args.mn}: key {kid} in force; the previous key is accepted for {grace:g} more days")
    return 0


def _hj212_key_list(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, timedelta  # noqa: PLC0415

    from wqmon.store.hj212_keys import list_keys  # noqa: PLC0415

    grace = timedelta(days=settings.hj212_key_grace_days)
    rows = list_keys(settings.database_url, datetime.now(UTC), grace, args.mn)
    print("MN  KEY-ID  CREATED  STATE  ORIGIN")
    for row in rows:
        print(row.describe())
    return 0


def _hj212_activate(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC  # noqa: PLC0415

    from wqmon.store.hj212_keys import activate  # noqa: PLC0415

    point = activate(settings.database_url, args.hardware, args.mn, datetime.now(UTC))
    print(f"logger {args.hardware}: MN {args.mn} ({point}); CN 1002 goes out when it next connects")
    return 0


def _add_hj212_commands(hsub: Any) -> None:
    """`wqmon hj212 key set|list` and `wqmon hj212 activate` (HJ 212-2025)."""
    key = hsub.add_parser("key", help="SM4 keys per MN (HJ 212-2025); keys are never shown")
    ksub = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    p = ksub.add_parser("set", help="set or rotate an MN's key (the previous one stays accepted)")
    p.add_argument("--mn", required=True, help="the logger's MN (a registered point's)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--key", help="32 hex characters (visible in the process list: prefer --key-file)"
    )
    source.add_argument("--key-file", help="a file whose first line is the 32 hex characters")
    p.set_defaults(handler=_hj212_key_set)
    p = ksub.add_parser("list", help="MN, key id, created, state — never the key")
    p.add_argument("--mn", help="only this MN")
    p.set_defaults(handler=_hj212_key_list)
    p = hsub.add_parser("activate", help="assign an MN to a logger that sent CN 1001")
    p.add_argument("--hardware", required=True, help="the logger's hardware id (i23005)")
    p.add_argument("--mn", required=True, help="the MN of the registry point to bind it to")
    p.set_defaults(handler=_hj212_activate)


def _api(_args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415

    from wqmon.api.app import create_app  # noqa: PLC0415

    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info"
    )
    return 0


def _apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    from wqmon.api.keys import create_key  # noqa: PLC0415

    if args.role == "gateway" and not (args.gateway or args.sites):
        print("wqmon: error: a gateway key needs --gateway or --sites", file=sys.stderr)
        return 2
    try:
        token = create_key(
            settings.database_url,
            name=args.name or args.role,
            role=args.role,
            gateway=args.gateway,
            sites=args.sites,
            regions=args.regions,
        )
    except ValueError as exc:
        print(f"wqmon: error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _balance_report(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg  # noqa: PLC0415

    from wqmon.balance.report import write_report  # noqa: PLC0415
    from wqmon.settings import libpq_url  # noqa: PLC0415

    output = Path(args.output or f"balance-{args.region}-{args.year}.{args.format}")
    with psycopg.connect(libpq_url(settings.database_url)) as conn:
        try:
            report = write_report(conn, args.region, args.year, args.format, output, lang=args.lang)
        except ValueError as exc:  # a year that has not started
            print(f"wqmon: error: {exc}", file=sys.stderr)
            return 2
    rate = report.account.collection_rate
    shown = "n/a" if rate is None else f"{rate:.1%}"
    span = "" if report.to_date is None else f" (year to date, to {report.to_date}; not final)"
    print(f"wrote {output}: {report.code} {report.year}{span}, collection rate {shown}")
    return 0


def _balance_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    from wqmon.balance.job import rebuild  # noqa: PLC0415
    from wqmon.settings import libpq_url  # noqa: PLC0415

    def moment(text: str) -> datetime:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    with psycopg.connect(libpq_url(settings.database_url)) as conn:
        hours = rebuild(conn, moment(args.start), moment(args.end), site=args.site)
    print(f"rebuilt {hours} point-hours")
    return 0


def _day(text: str) -> date:
    """A local day from the command line; a bad one is a one-line error."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"not a day (YYYY-MM-DD): {text!r}") from exc


def _compliance(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, timedelta  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    from wqmon.audit import coverage  # noqa: PLC0415
    from wqmon.audit.export import csv_bytes, xlsx_bytes  # noqa: PLC0415
    from wqmon.settings import libpq_url  # noqa: PLC0415

    day = _day(args.date) if args.date else datetime.now(UTC).date() - timedelta(1)
    with psycopg.connect(libpq_url(settings.database_url)) as conn:
        found = coverage.check_coverage(
            conn, region=args.region, day=day, rule=coverage.rule_from(settings)
        )
    rows = coverage.coverage_rows(found)
    missing = sum(1 for f in found if not f.compliant)
    if args.format == "text":
        for row in rows:
            if row["missing"] is not None:
                since = f" since {row['since']}" if row["since"] else ""
                print(f"{row['site']}: {row['missing']}{since}")
        print(f"{len(found)} facilities, {missing} with something missing ({day.isoformat()})")
        return 1 if missing else 0
    output = Path(args.output or f"compliance-{args.region or 'all'}-{day}.{args.format}")
    data = (
        csv_bytes(rows, coverage.COLUMNS)
        if args.format == "csv"
        else xlsx_bytes({"list": (coverage.COLUMNS, rows)})
    )
    output.write_bytes(data)
    print(f"wrote {output}: {len(found)} facilities, {missing} with something missing")
    return 0


def _report_daily(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg  # noqa: PLC0415

    from wqmon.audit import daily  # noqa: PLC0415
    from wqmon.settings import libpq_url  # noqa: PLC0415

    day = _day(args.date)
    with psycopg.connect(libpq_url(settings.database_url)) as conn:
        report = daily.daily_report(conn, args.site, day)
    render = {"csv": daily.report_csv, "xlsx": daily.report_xlsx, "html": daily.report_html}
    output = Path(args.output or f"daily-{args.site}-{day}.{args.format}")
    output.write_bytes(render[args.format](report))
    marks = len(report["marks"])
    print(f"wrote {output}: {args.site} {day}, {len(report['hours'])} hour values, {marks} marks")
    return 0


def _add_audit_commands(sub: Any) -> None:
    """`wqmon compliance` and `wqmon report daily` (docs/audit.md)."""
    p = sub.add_parser("compliance", help="facilities the monitoring policy finds incomplete")
    p.add_argument("--region", help="region code (its subtree); default: every site")
    p.add_argument("--date", help="local day checked, YYYY-MM-DD (default: yesterday)")
    p.add_argument("--format", choices=["text", "csv", "xlsx"], default="text")
    p.add_argument("--output", help="file for csv/xlsx (default: compliance-REGION-DATE.FORMAT)")
    p.set_defaults(handler=_compliance)
    report = sub.add_parser("report", help="reports of a site")
    rsub = report.add_subparsers(dest="report_command", required=True, metavar="KIND")
    p = rsub.add_parser("daily", help="a plant's or enterprise's daily report (日报)")
    p.add_argument("--site", required=True, help="site code, e.g. WWTP-01")
    p.add_argument("--date", required=True, help="local day, YYYY-MM-DD")
    p.add_argument("--format", choices=["csv", "xlsx", "html"], default="html")
    p.add_argument("--output", help="file to write (default: daily-SITE-DATE.FORMAT)")
    p.set_defaults(handler=_report_daily)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # noqa: PLC0415

    from wqmon.simulators.scenarios import EXAMPLE_REGISTRY  # noqa: PLC0415
    from wqmon.simulators.simulate import SimulateOptions, simulate  # noqa: PLC0415

    options = SimulateOptions(
        scenario=args.scenario,
        seed=args.seed,
        speed=args.speed,
        backfill_days=args.backfill_days,
        registry=Path(args.registry) if args.registry else EXAMPLE_REGISTRY,
        hj212_port=args.hj212_port,
        api_url=args.api_url,
        api_key=args.api_key,
        modbus=not args.no_modbus,
        interval_s=args.interval,
        duration_s=args.duration,
    )
    return asyncio.run(simulate(settings, options))


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # noqa: PLC0415

    from wqmon.demo.run import DemoOptions, run_demo  # noqa: PLC0415

    options = DemoOptions(
        data_dir=Path(args.data_dir),
        scenario=args.scenario,
        seed=args.seed,
        speed=args.speed,
        backfill_days=args.backfill_days,
        registry=Path(args.registry) if args.registry else None,
    )
    return asyncio.run(run_demo(settings, options, lambda line: print(f"demo: {line}", flush=True)))


def _add_field_options(p: argparse.ArgumentParser, *, backfill_days: float) -> None:
    p.add_argument("--seed", type=int, default=1, help="the field is the same for the same seed")
    p.add_argument(
        "--speed", type=float, default=1.0, help="model time runs this many times faster"
    )
    p.add_argument(
        "--backfill-days",
        type=float,
        default=backfill_days,
        help=f"send this much history first, at full speed (default {backfill_days:g})",
    )
    p.add_argument("--registry", help="registry file of the field (default examples/registry.yaml)")


def _add_field_commands(sub: Any) -> None:
    """`wqmon demo` and `wqmon simulate`."""
    p = sub.add_parser(
        "demo", help="everything in one process: database, broker, ingest, API, field"
    )
    p.add_argument("scenario", nargs="?", default="city", help="scenario (city, calm)")
    p.add_argument("--data-dir", default="var/demo", help="kept between runs (default var/demo)")
    _add_field_options(p, backfill_days=2.0)
    p.set_defaults(handler=_demo)

    p = sub.add_parser("simulate", help="a simulated field reporting to a running wqmon")
    p.add_argument("scenario", help="scenario (city, calm)")
    _add_field_options(p, backfill_days=0.0)
    p.add_argument("--hj212-port", type=int, help="wqmon's HJ 212 port (default WQMON_HJ212_PORT)")
    p.add_argument("--api-url", help="wqmon's API (default http://127.0.0.1:WQMON_API_PORT)")
    p.add_argument(
        "--api-key", help="gateway key for HTTP pushes (default: create one per gateway)"
    )
    p.add_argument("--no-modbus", action="store_true", help="do not start the Modbus servers")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between live reports")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(handler=_simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wqmon", description=__doc__)
    parser.add_argument("--version", action="version", version=f"wqmon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "migrate", help="create or upgrade the schema (hypertables with TimescaleDB)"
    )
    p.set_defaults(handler=_migrate)

    _add_field_commands(sub)
    _add_audit_commands(sub)

    p = sub.add_parser("ingest", help="run the drivers and the ingest pipeline until stopped")
    p.set_defaults(handler=_ingest)

    p = sub.add_parser("api", help="serve the HTTP API and the operator page")
    p.set_defaults(handler=_api)

    apikey = sub.add_parser("apikey", help="manage API keys")
    asub = apikey.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    p = asub.add_parser("create", help="create a key and print its token (shown only once)")
    p.add_argument(
        "--role",
        required=True,
        choices=["gateway", "operator", "admin", "county", "city", "province"],
    )
    p.add_argument("--name", help="a label for listings (default: the role)")
    p.add_argument("--gateway", help="registry gateway whose sites the key may write")
    p.add_argument("--sites", nargs="+", metavar="SITE", help="site codes the key may write")
    p.add_argument(
        "--region",
        dest="regions",
        nargs="+",
        metavar="REGION",
        help="regions a county, city or province key acts for (with their subtrees)",
    )
    p.set_defaults(handler=_apikey_create)

    balance = sub.add_parser("balance", help="COD balance: region reports and rollup rebuilds")
    bsub = balance.add_subparsers(dest="balance_command", required=True, metavar="ACTION")
    p = bsub.add_parser("report", help="a region-year report as CSV, XLSX or HTML")
    p.add_argument("--region", required=True, help="region code, e.g. HZ")
    p.add_argument("--year", required=True, type=int, help="calendar year, e.g. 2025")
    p.add_argument("--format", choices=["csv", "xlsx", "html"], default="html")
    p.add_argument("--output", help="file to write (default: balance-REGION-YEAR.FORMAT)")
    p.add_argument(
        "--lang", choices=["zh", "en"], default="zh", help="language of the HTML report (zh)"
    )
    p.set_defaults(handler=_balance_report)
    p = bsub.add_parser("rebuild", help="recompute point-hour and point-day rollups of a period")
    p.add_argument("--from", dest="start", required=True, help="ISO time (UTC if no offset)")
    p.add_argument("--to", dest="end", required=True, help="ISO time (UTC if no offset)")
    p.add_argument("--site", help="only this site's points")
    p.set_defaults(handler=_balance_rebuild)

    registry = sub.add_parser("registry", help="manage the registry of regions, sites and channels")
    rsub = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    p = rsub.add_parser("import", help="validate and import a registry YAML file (idempotent)")
    p.add_argument("file", help="the registry file, e.g. examples/registry.yaml")
    p.set_defaults(handler=_registry_import)

    hj212 = sub.add_parser("hj212", help="HJ 212 loggers: history backfill, keys, activation")
    hsub = hj212.add_subparsers(dest="hj212_command", required=True, metavar="ACTION")
    p = hsub.add_parser(
        "backfill", help="ask a connected logger (via the running ingest) for history data"
    )
    p.add_argument("--mn", required=True, help="the logger's MN")
    p.add_argument("--from", dest="begin", required=True, help="ISO time; no offset = site time")
    p.add_argument("--to", dest="end", required=True, help="ISO time; no offset = site time")
    p.add_argument(
        "--cn", default="2061", choices=["2051", "2061", "2031"], help="minute, hour or day"
    )
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the outcome")
    p.set_defaults(handler=_hj212_backfill)
    _add_hj212_commands(hsub)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; WqmonError becomes a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
        handler: Handler = args.handler
        return handler(args, settings)
    except WqmonError as exc:
        print(f"wqmon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
