"""The paho-mqtt client set up for at-least-once delivery with acknowledgement after commit.

paho-mqtt 2 with `manual_ack=True` lets us send each PUBACK ourselves (ADR 0004: aiomqtt
2.x acknowledges on receipt, which would lose messages on a crash). MQTT 5 because its Receive
Maximum bounds the messages the broker sends us unacknowledged — our backpressure — and its
session expiry keeps our queue on the broker while we are down.
"""

from __future__ import annotations

import random
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wqmon.protocol.mqtt_url import BrokerAddress
from wqmon.settings import Settings


def subscription_topic(settings: Settings) -> str:
    """The topic filter, as an MQTT 5 shared subscription when replicas share the load."""
    if settings.mqtt_shared_group:
        return f"$share/{settings.mqtt_shared_group}/{settings.mqtt_topic}"
    return settings.mqtt_topic


def make_client(settings: Settings, address: BrokerAddress) -> mqtt.Client:
    """A paho client with a fixed id (persistent session), manual acks and our TLS/credentials."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=settings.mqtt_client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(
            ca_certs=settings.mqtt_ca_file,
            certfile=settings.mqtt_cert_file,
            keyfile=settings.mqtt_key_file,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    jitter_reconnect_delay(client)
    return client


def jitter_reconnect_delay(client: mqtt.Client) -> None:
    """paho backs off exponentially but without jitter; a random floor spreads out replicas."""
    client.reconnect_delay_set(min_delay=random.uniform(0.5, 1.5), max_delay=30)  # type: ignore[arg-type]  # noqa: S311 - paho takes floats


def connect_properties(settings: Settings) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = settings.mqtt_session_expiry_s
    props.ReceiveMaximum = settings.mqtt_receive_maximum
    return props
