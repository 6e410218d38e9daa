"""Broker security (TLS, SASL) for every Kafka client we make, from the one settings object.

Four client libraries talk to the broker: kafka-python (admin, tools' consumers), aiokafka (the
simulator's producer, offset probes), librdkafka through confluent-kafka (the replay producer)
and Faust (the worker's consumer, producer and admin, through aiokafka). Each gets its own
spelling of the same settings here, and nothing constructs a client without them (a test walks
the source for client constructors).

Secrets may come from mounted files (``*_FILE`` settings, for Kubernetes Secrets): the file's
content, without its trailing newline, wins over the inline value.
"""

from __future__ import annotations

import ssl
from functools import cache
from pathlib import Path
from typing import Any

from streams.settings import Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _secret(value: str, path: str, name: str) -> str:
    if not path:
        return value
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"CHURNGUARD_{name.upper()}={path}: {exc.strerror}") from None


def check(s: Settings) -> None:
    """Refuse settings no client could connect with, naming the setting."""
    if s.broker_security_protocol not in PROTOCOLS:
        raise ValueError(f"CHURNGUARD_BROKER_SECURITY_PROTOCOL={s.broker_security_protocol!r}: one of {', '.join(PROTOCOLS)}")
    if s.broker_security_protocol.startswith("SASL"):
        if s.broker_sasl_mechanism not in MECHANISMS:
            raise ValueError(f"CHURNGUARD_BROKER_SASL_MECHANISM={s.broker_sasl_mechanism!r}: one of {', '.join(MECHANISMS)}")
        if not s.broker_sasl_username or not password(s):
            raise ValueError("SASL needs CHURNGUARD_BROKER_SASL_USERNAME and CHURNGUARD_BROKER_SASL_PASSWORD "
                             "(or CHURNGUARD_BROKER_SASL_PASSWORD_FILE)")
    if uses_tls(s):
        for name in ("broker_ssl_ca_file", "broker_ssl_cert_file", "broker_ssl_key_file"):
            path = getattr(s, name)
            if path and not Path(path).is_file():
                raise ValueError(f"CHURNGUARD_{name.upper()}={path}: no such file")
        if bool(s.broker_ssl_cert_file) != bool(s.broker_ssl_key_file):
            raise ValueError("a client certificate needs both CHURNGUARD_BROKER_SSL_CERT_FILE and CHURNGUARD_BROKER_SSL_KEY_FILE")


def uses_tls(s: Settings) -> bool:
    return s.broker_security_protocol in ("SSL", "SASL_SSL")


def password(s: Settings) -> str:
    return _secret(s.broker_sasl_password, s.broker_sasl_password_file, "broker_sasl_password_file")


def key_password(s: Settings) -> str:
    return _secret(s.broker_ssl_key_password, s.broker_ssl_key_password_file, "broker_ssl_key_password_file")


@cache
def _context(ca: str, cert: str, key: str, key_pass: str, check_hostname: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca or None)  # the system's CAs unless one is given
    if cert:
        context.load_cert_chain(cert, key, key_pass or None)
    context.check_hostname = check_hostname
    if not check_hostname:
        context.verify_mode = ssl.CERT_REQUIRED  # still verify the chain, only not the name
    return context


def ssl_context(s: Settings) -> ssl.SSLContext | None:
    if not uses_tls(s):
        return None
    return _context(s.broker_ssl_ca_file, s.broker_ssl_cert_file, s.broker_ssl_key_file, key_password(s),
                    s.broker_ssl_check_hostname)


def kafka_python(s: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaAdminClient / KafkaConsumer / KafkaProducer."""
    out: dict[str, Any] = {"security_protocol": s.broker_security_protocol}
    if uses_tls(s):
        out.update(ssl_context=ssl_context(s), ssl_check_hostname=s.broker_ssl_check_hostname)
    if s.broker_security_protocol.startswith("SASL"):
        out.update(sasl_mechanism=s.broker_sasl_mechanism, sasl_plain_username=s.broker_sasl_username,
                   sasl_plain_password=password(s))
    return out


def aiokafka(s: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's AIOKafkaProducer / AIOKafkaConsumer."""
    out: dict[str, Any] = {"security_protocol": s.broker_security_protocol}
    if uses_tls(s):
        out["ssl_context"] = ssl_context(s)
    if s.broker_security_protocol.startswith("SASL"):
        out.update(sasl_mechanism=s.broker_sasl_mechanism, sasl_plain_username=s.broker_sasl_username,
                   sasl_plain_password=password(s))
    return out


def librdkafka(s: Settings) -> dict[str, Any]:
    """Configuration entries for confluent-kafka (librdkafka)."""
    out: dict[str, Any] = {"security.protocol": s.broker_security_protocol.lower()}
    if uses_tls(s):
        out["ssl.endpoint.identification.algorithm"] = "https" if s.broker_ssl_check_hostname else "none"
        for key, value in (("ssl.ca.location", s.broker_ssl_ca_file), ("ssl.certificate.location", s.broker_ssl_cert_file),
                           ("ssl.key.location", s.broker_ssl_key_file), ("ssl.key.password", key_password(s))):
            if value:
                out[key] = value
    if s.broker_security_protocol.startswith("SASL"):
        out.update({"sasl.mechanism": s.broker_sasl_mechanism, "sasl.username": s.broker_sasl_username,
                    "sasl.password": password(s)})
    return out


def faust_credentials(s: Settings) -> Any:
    """Faust's ``broker_credentials`` (its consumer, producer and admin), or None for PLAINTEXT."""
    import faust

    if s.broker_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(username=s.broker_sasl_username, password=password(s),
                                     ssl_context=ssl_context(s), mechanism=s.broker_sasl_mechanism)
    if uses_tls(s):
        return faust.SSLCredentials(ssl_context(s))
    return None
