"""The paho-mqtt client set up for at-least-once delivery with acknowledgement after commit.

paho-mqtt 2 with `manual_ack=True` lets us send each PUBACK ourselves (ADR 0004: aiomqtt
2.x acknowledges on receipt, which would lose messages on a crash). MQTT 5 because its Receive
Maximum bounds the messages the broker sends us unacknowledged — our backpressure — and its
session expiry keeps our queue on the broker while we are down.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wqmon.drivers.mqtt.config import MqttConfig
from wqmon.protocol.mqtt_url import BrokerAddress
from wqmon.supervision import backoff


def subscription_topic(config: MqttConfig) -> str:
    """The topic filter, as an MQTT 5 shared subscription when replicas share the load."""
    if config.shared_group:
        return f"$share/{config.shared_group}/{config.topic}"
    return config.topic


def make_client(config: MqttConfig, address: BrokerAddress) -> mqtt.Client:
    """A paho client with a fixed id (persistent session), manual acks and our TLS/credentials."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(
            ca_certs=config.ca_file,
            certfile=config.cert_file,
            keyfile=config.key_file,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    jitter_reconnect_delay(client)
    return client


def jitter_reconnect_delay(client: mqtt.Client) -> None:
    """paho backs off exponentially but without jitter; a random floor spreads out replicas."""
    floor = 0.5 + backoff(0, base_s=1.0, cap_s=1.0)  # uniform in [0.5, 1.5] s
    client.reconnect_delay_set(min_delay=floor, max_delay=30)  # type: ignore[arg-type]  # paho takes floats


def connect_properties(config: MqttConfig) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = config.session_expiry_s
    props.ReceiveMaximum = config.receive_maximum
    return props
