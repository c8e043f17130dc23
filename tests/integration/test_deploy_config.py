"""The production deployment files, checked as far as this machine can without Docker.

- `docker-compose.yml` validates against the Compose specification's JSON schema (the copy that
  ships in the `check-jsonschema` package), and its wqmon services make sense to wqmon: every
  `WQMON_*` variable is a setting and parses, every command is a `wqmon` subcommand, health
  checks, ports and mounts agree with the settings.
- `deploy/Dockerfile` copies what `pip install .` needs and runs `wqmon`.
- `deploy/mosquitto/mosquitto.conf` and `deploy/mosquitto/acl` load in a real `mosquitto` (only
  paths and the port rewritten, in a copy): logins from a password file made with
  `mosquitto_passwd`, persistence, and the per-gateway ACL enforced.
"""

from __future__ import annotations

import copy
import json
import os
import pwd
import queue
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.fixtures.services import free_port, wait_for_port
from wqmon.cli import build_parser
from wqmon.settings import Settings

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "wqmon.env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
MOSQUITTO_DIR = DEPLOY / "mosquitto"
WQMON_IMAGE = "wqmon:0.1.0"
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _compose_schema() -> dict[str, Any]:
    path = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def _wqmon_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = {
        name: svc for name, svc in compose["services"].items() if svc.get("image") == WQMON_IMAGE
    }
    assert set(services) == {"migrate", "ingest", "ingest-2", "api"}
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _env_example() -> dict[str, str]:
    """The variables of the env example, commented-out ones included (they are documentation)."""
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match[1]] = match[2]
    return found


def _setting_name(variable: str) -> str:
    assert variable.startswith("WQMON_"), variable
    return variable.removeprefix("WQMON_").lower()


def _resolve(text: str) -> str:
    """Compose interpolation of `${NAME:-default}` with nothing set: the defaults."""
    return INTERPOLATION.sub(lambda m: m["default"] or "", text)


# -- docker-compose.yml ---------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_specification() -> None:
    schema = _compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    compose = _compose()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    # The schema is strict enough to catch a slip: a misspelt key and a bad condition fail.
    broken = copy.deepcopy(compose)
    broken["services"]["ingest"]["restart_policy"] = "always"
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_done"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_wqmon_variables_are_real_settings_and_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = set(Settings.model_fields)
    example = _env_example()
    services = _wqmon_services(_compose())
    seen: set[str] = set()
    for name, service in services.items():
        assert service["env_file"] == ["deploy/wqmon.env"], name
        env = _environment(service)
        for variable in env:
            assert variable.startswith("WQMON_"), f"{name}: {variable} is not a wqmon setting"
            assert _setting_name(variable) in fields, f"{name}: {variable} is not a setting"
        # What the container sees: the env file (its example, uncommented lines), then the
        # service's environment; wqmon must accept the whole of it.
        for key in [k for k in os.environ if k.startswith("WQMON_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("WQMON_CONFIG", str(ROOT / "does-not-exist.toml"))
        for variable, value in {**_active_example_lines(), **env}.items():
            if variable.startswith("WQMON_"):
                monkeypatch.setenv(variable, value)
        settings = Settings()
        seen.update(env)
        if name.startswith("ingest"):
            assert settings.mqtt_shared_group == "wqmon"
            assert settings.spool_dir == Path("/var/lib/wqmon/spool")
            assert settings.metrics_port is not None
        if name == "api":
            assert settings.api_host == "0.0.0.0"  # noqa: S104 - reachable inside the container
    example_wqmon = {v for v in example if v.startswith("WQMON_")}
    for variable in example_wqmon:
        assert _setting_name(variable) in fields, f"wqmon.env.example: {variable} is not a setting"
    assert {"WQMON_DATABASE_URL", "WQMON_MQTT_URL"} <= example_wqmon
    assert "WQMON_MQTT_SHARED_GROUP" in seen


def _active_example_lines() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    found: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found[key] = value
    return found


def test_compose_replicas_keep_apart_what_must_not_be_shared() -> None:
    services = _wqmon_services(_compose())
    ingest = {name: _environment(services[name]) for name in ("ingest", "ingest-2")}
    client_ids = {env["WQMON_MQTT_CLIENT_ID"] for env in ingest.values()}
    assert len(client_ids) == 2, "each replica needs its own persistent MQTT session"
    assert {env["WQMON_MQTT_SHARED_GROUP"] for env in ingest.values()} == {"wqmon"}
    spool_volumes = {
        name: {v.split(":")[0] for v in services[name]["volumes"]} for name in (*ingest, "api")
    }
    assert len(set.union(*spool_volumes.values())) == 3, "a spool folder belongs to one process"
    second = ingest["ingest-2"]
    assert second["WQMON_HJ212_ENABLED"] == "false"
    assert second["WQMON_MODBUS_ENABLED"] == "false"  # a device is polled by one process only
    assert services["ingest-2"]["profiles"] == ["replicas"]
    assert "ports" not in services["ingest-2"]


def test_compose_commands_are_wqmon_subcommands() -> None:
    compose = _compose()
    services = _wqmon_services(compose)
    parser = build_parser()
    handlers: dict[str, list[str]] = {}
    for name, service in services.items():
        command = service["command"]
        if "entrypoint" in service:
            assert service["entrypoint"] == ["/bin/sh", "-ec"], name
            (script,) = command
            calls = [shlex.split(part) for part in script.split("&&")]
        else:
            calls = [["wqmon", *command]]  # the image's ENTRYPOINT is `wqmon`
        for call in calls:
            assert call[0] == "wqmon", f"{name}: {call}"
            args = parser.parse_args(call[1:])
            handlers.setdefault(name, []).append(args.handler.__name__)
    assert handlers == {
        "migrate": ["_migrate", "_registry_import"],
        "ingest": ["_ingest"],
        "ingest-2": ["_ingest"],
        "api": ["_api"],
    }
    # The registry file the migrate service imports is the one it mounts.
    migrate = services["migrate"]
    mounts = {_resolve(v).split(":")[1]: _resolve(v).split(":")[0] for v in migrate["volumes"]}
    assert "/etc/wqmon/registry.yaml" in migrate["command"][0]
    source = mounts["/etc/wqmon/registry.yaml"]
    assert (ROOT / source).is_file(), f"default registry {source} is missing"


def test_compose_health_checks_ports_and_dependencies_agree() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"], name
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert services[dependency]["restart"] == "no", dependency
    for name in ("ingest", "ingest-2"):
        env = _environment(services[name])
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{env['WQMON_METRICS_PORT']}/metrics" in check, name
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    api_env = _environment(services["api"])
    assert f"http://127.0.0.1:{api_env['WQMON_API_PORT']}/health/ready" in " ".join(
        services["api"]["healthcheck"]["test"]
    )
    assert services["api"]["ports"] == [f"127.0.0.1:{api_env['WQMON_API_PORT']}:8000"]
    ingest_env = _environment(services["ingest"])
    assert services["ingest"]["ports"] == [f"{ingest_env['WQMON_HJ212_PORT']}:9212"]
    # Persistent data on named volumes.
    declared = set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in services["timescaledb"]["volumes"]
    assert "mosquitto-data:/mosquitto/data" in services["mosquitto"]["volumes"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = _resolve(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:2.19")
    # The route of readiness exists in the API.
    from wqmon.api.routes.health import router  # noqa: PLC0415

    assert "/health/ready" in {getattr(r, "path", None) for r in router.routes}


def test_no_secret_in_the_compose_file_or_the_example() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert not re.search(r"(?i)password\s*[:=]\s*\S", text)
    assert "@" not in "".join(
        _environment(s).get("WQMON_DATABASE_URL", "") for s in _compose()["services"].values()
    )
    for variable, value in _env_example().items():
        if "PASSWORD" in variable or variable.endswith("_URL"):
            assert "CHANGE-ME" in value or "@" not in value, variable


# -- deploy/Dockerfile ----------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_copies_what_pip_install_needs_and_runs_wqmon() -> None:
    instructions = _dockerfile_instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    assert froms
    assert all(f.startswith("python:3.11-slim-bookworm") for f in froms)
    copied: list[str] = []
    for op, arg in instructions:
        if op == "COPY" and not arg.startswith("--from"):
            *sources, _dest = arg.split()
            copied += sources
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = [pyproject["project"]["readme"], "pyproject.toml"]
    needed += pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for path in needed:
        assert any(path == c or path.startswith(c.rstrip("/") + "/") for c in copied), path
    assert any(op == "RUN" and "pip install ." in arg for op, arg in instructions)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for source in copied:
        assert f"!{source.rstrip('/')}" in [line.rstrip("/") for line in ignore], source
    entrypoint = json.loads(next(arg for op, arg in instructions if op == "ENTRYPOINT"))
    cmd = json.loads(next(arg for op, arg in instructions if op == "CMD"))
    assert entrypoint == ["wqmon"]
    assert build_parser().parse_args(cmd).handler.__name__ == "_ingest"
    assert next(arg for op, arg in instructions if op == "USER") == "wqmon"


# -- deploy/mosquitto ------------------------------------------------------------------------------

USERS = {"wqmon": "ingest-secret", "gw-01": "gw-01-secret", "gw-02": "gw-02-secret"}


@dataclass
class Broker:
    port: int
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.root / "broker.log").read_text(encoding="utf-8", errors="replace")


def _deployed_config(root: Path, port: int) -> str:
    """The shipped mosquitto.conf with its container paths moved under `root` and the plain
    listener on a free loopback port; every other line is left as it is."""
    text = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    assert re.search(r"^listener 1883$", text, flags=re.MULTILINE)
    text = text.replace("/mosquitto/config/", f"{root}/config/")
    text = text.replace("/mosquitto/data/", f"{root}/data/")
    return re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", text, flags=re.MULTILINE)


@pytest.fixture
def deployed_mosquitto() -> Iterator[Broker]:
    root = Path(tempfile.mkdtemp(prefix="wqmon-deploy-mqtt-"))
    (root / "config").mkdir()
    (root / "data").mkdir()
    shutil.copy(MOSQUITTO_DIR / "acl", root / "config" / "acl")
    passwd = root / "config" / "passwd"
    for n, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if n == 0 else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(passwd), user, password],
            check=True,
            capture_output=True,
        )
    assert USERS["wqmon"] not in passwd.read_text(encoding="utf-8"), "passwords are hashed"
    port = free_port()
    conf = root / "config" / "mosquitto.conf"
    conf.write_text(_deployed_config(root, port), encoding="utf-8")
    if os.geteuid() == 0:
        # Started as root, mosquitto drops to its own user, as in the container.
        owner = pwd.getpwnam("mosquitto")
        for path in (root, *root.rglob("*")):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    passwd.chmod(0o600)
    with (root / "broker.log").open("ab") as log:
        process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    broker = Broker(port, root, process)
    try:
        wait_for_port(port)
        yield broker
    finally:
        if broker.process.poll() is None:
            broker.process.send_signal(signal.SIGTERM)
            broker.process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


class Client:
    """A paho MQTT 5 client that records CONNACK, SUBACK and PUBACK reason codes and messages."""

    def __init__(self, broker: Broker, client_id: str, user: str | None, password: str | None):
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id, protocol=mqtt.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.events.put(("connack", rc))
        self.client.on_subscribe = lambda _c, _u, _m, rcs, _p: self.events.put(("suback", rcs))
        self.client.on_publish = lambda _c, _u, _m, rc, _p: self.events.put(("puback", rc))
        self.client.on_message = lambda _c, _u, msg: self.events.put(("message", msg))
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()

    def next(self, kind: str) -> Any:
        """The next event of this kind (others of the same client are kept in order)."""
        while True:
            got, value = self.events.get(timeout=10)
            if got == kind:
                return value
            assert kind == "message" or got != "message", f"unexpected message {value.topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def _login(
    broker: Broker, clients: list[Client], name: str, user: str | None, pw: str | None
) -> tuple[Client, ReasonCode]:
    client = Client(broker, name, user, pw)
    clients.append(client)
    return client, client.next("connack")


def test_mosquitto_config_loads_and_requires_a_login(
    deployed_mosquitto: Broker, clients: list[Client]
) -> None:
    _c, rc = _login(deployed_mosquitto, clients, "anon", None, None)
    assert isinstance(rc, ReasonCode)
    assert rc.is_failure
    assert str(rc) == "Not authorized"
    _c, rc = _login(deployed_mosquitto, clients, "wrong", "gw-01", "gw-02-secret")
    assert rc.is_failure
    assert str(rc) in {"Not authorized", "Bad user name or password"}
    for user, password in USERS.items():
        _c, rc = _login(deployed_mosquitto, clients, f"ok-{user}", user, password)
        assert not rc.is_failure, f"{user}: {rc}"
    assert "Config loaded from" in deployed_mosquitto.log


def test_mosquitto_acl_keeps_each_gateway_to_its_own_topic(
    deployed_mosquitto: Broker, clients: list[Client]
) -> None:
    broker = deployed_mosquitto
    ingest, _ = _login(broker, clients, "wqmon-ingest-1", "wqmon", USERS["wqmon"])
    ingest.client.subscribe("$share/wqmon/wqmon/v1/+/readings", qos=1)
    (granted,) = ingest.next("suback")
    assert not granted.is_failure, granted
    plain, _ = _login(broker, clients, "wqmon-plain", "wqmon", USERS["wqmon"])
    plain.client.subscribe("wqmon/v1/+/readings", qos=1)
    (granted,) = plain.next("suback")
    assert not granted.is_failure, granted

    gateway, _ = _login(broker, clients, "gw-01", "gw-01", USERS["gw-01"])
    # Not its topic: refused (MQTT 5 PUBACK "Not authorized") and delivered to nobody.
    gateway.client.publish("wqmon/v1/gw-02/readings", b"forged", qos=1)
    assert str(gateway.next("puback")) == "Not authorized"
    gateway.client.publish("wqmon/v1/gw-01/readings", b"own", qos=1)
    assert not gateway.next("puback").is_failure
    # Per-client order: had the forged message got through, it would arrive first.
    for subscriber in (ingest, plain):
        message = subscriber.next("message")
        assert (message.topic, message.payload) == ("wqmon/v1/gw-01/readings", b"own")
    # A gateway reads nothing, not even through a shared subscription. Mosquitto grants the
    # SUBSCRIBE and filters on delivery: a message the gateway may read would be queued on its
    # connection before the PUBACK of its own publish, and `next` fails on any message.
    gateway.client.subscribe("wqmon/v1/+/readings", qos=1)
    gateway.next("suback")
    gateway.client.subscribe("$share/wqmon/wqmon/v1/+/readings", qos=1)
    gateway.next("suback")
    gateway.client.publish("wqmon/v1/gw-01/readings", b"echo", qos=1)
    assert not gateway.next("puback").is_failure
    gateway.client.subscribe("wqmon/v1/gw-01/commands", qos=1)
    gateway.next("suback")  # one more round trip on the gateway's connection
    for subscriber in (ingest, plain):
        assert subscriber.next("message").payload == b"echo"
    # The ingest user publishes nothing.
    ingest.client.publish("wqmon/v1/gw-01/readings", b"from-ingest", qos=1)
    assert str(ingest.next("puback")) == "Not authorized"
    gateway.client.publish("wqmon/v1/gw-01/readings", b"last", qos=1)
    assert not gateway.next("puback").is_failure
    message = plain.next("message")
    assert message.payload == b"last"


def test_mosquitto_persists_its_sessions(deployed_mosquitto: Broker) -> None:
    broker = deployed_mosquitto
    broker.process.send_signal(signal.SIGTERM)
    assert broker.process.wait(10) == 0
    assert (broker.root / "data" / "mosquitto.db").is_file()
    assert "Saving in-memory database" in broker.log
