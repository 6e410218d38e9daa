"""Broker security settings reach every client we construct, in each library's own spelling."""

import ast
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path

import faust
import pytest

from streams.kafka import security
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, and a client certificate it signed, with an encrypted key (openssl)."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=churnguard-test-ca")
    run("req", "-newkey", "rsa:2048", "-passout", "pass:k3y", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=churnguard-worker")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "client.pem", "-days", "2")
    (d / "sasl-password").write_text("s3cret\n")
    (d / "key-password").write_text("k3y\n")
    return d


def secured(pki: Path) -> Settings:
    return replace(Settings(), broker="kafka-1:9093", broker_security_protocol="SASL_SSL",
                   broker_ssl_ca_file=str(pki / "ca.pem"), broker_ssl_cert_file=str(pki / "client.pem"),
                   broker_ssl_key_file=str(pki / "client.key"), broker_ssl_key_password_file=str(pki / "key-password"),
                   broker_sasl_mechanism="SCRAM-SHA-256", broker_sasl_username="worker",
                   broker_sasl_password="ignored", broker_sasl_password_file=str(pki / "sasl-password"))


def test_plaintext_by_default_for_every_library():
    s = Settings()
    security.check(s)
    assert security.kafka_python(s) == {"security_protocol": "PLAINTEXT"}
    assert security.aiokafka(s) == {"security_protocol": "PLAINTEXT"}
    assert security.librdkafka(s) == {"security.protocol": "plaintext"}
    assert security.faust_credentials(s) is None


def test_tls_and_sasl_reach_each_library_with_secrets_from_mounted_files(pki):
    s = secured(pki)
    security.check(s)
    kp = security.kafka_python(s)
    assert kp["security_protocol"] == "SASL_SSL" and kp["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kp["sasl_plain_username"] == "worker" and kp["sasl_plain_password"] == "s3cret"  # the file wins
    context = kp["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert any(c["subject"] == ((("commonName", "churnguard-test-ca"),),) for c in context.get_ca_certs())
    ak = security.aiokafka(s)
    assert ak["ssl_context"] is context and ak["sasl_plain_password"] == "s3cret"
    rd = security.librdkafka(s)
    assert rd == {"security.protocol": "sasl_ssl", "ssl.endpoint.identification.algorithm": "https",
                  "ssl.ca.location": str(pki / "ca.pem"), "ssl.certificate.location": str(pki / "client.pem"),
                  "ssl.key.location": str(pki / "client.key"), "ssl.key.password": "k3y",
                  "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "worker", "sasl.password": "s3cret"}
    creds = security.faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials) and creds.username == "worker" and creds.password == "s3cret"
    assert creds.ssl_context is context and str(creds.mechanism.value) == "SCRAM-SHA-256"
    no_name_check = replace(s, broker_ssl_check_hostname=False)
    assert security.librdkafka(no_name_check)["ssl.endpoint.identification.algorithm"] == "none"
    assert not security.ssl_context(no_name_check).check_hostname
    assert isinstance(security.faust_credentials(replace(s, broker_security_protocol="SSL")), faust.SSLCredentials)


def test_the_worker_app_gets_the_credentials_and_the_replication_factor(pki, tmp_path):
    from streams.kafka.app import create_app

    s = replace(secured(pki), data_dir=str(tmp_path), replication_factor=3)
    conf = create_app(s).app.conf
    assert isinstance(conf.broker_credentials, faust.SASLCredentials) and conf.broker_credentials.username == "worker"
    assert conf.topic_replication_factor == 3


@pytest.mark.parametrize("change, message", [
    ({"broker_security_protocol": "TLS"}, "CHURNGUARD_BROKER_SECURITY_PROTOCOL='TLS'"),
    ({"broker_security_protocol": "SASL_SSL", "broker_sasl_username": ""}, "SASL needs CHURNGUARD_BROKER_SASL_USERNAME"),
    ({"broker_security_protocol": "SASL_PLAINTEXT", "broker_sasl_mechanism": "GSSAPI", "broker_sasl_username": "u",
      "broker_sasl_password": "p"}, "CHURNGUARD_BROKER_SASL_MECHANISM='GSSAPI'"),
    ({"broker_security_protocol": "SSL", "broker_ssl_ca_file": "/nope/ca.pem"}, "CHURNGUARD_BROKER_SSL_CA_FILE=/nope/ca.pem"),
    ({"broker_security_protocol": "SSL", "broker_ssl_cert_file": "CERT"}, "needs both"),
])
def test_settings_no_client_could_use_are_refused_naming_the_setting(pki, change, message):
    values = {k: (str(pki / "client.pem") if v == "CERT" else v) for k, v in change.items()}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        security.check(replace(Settings(), **values))


CLIENTS = {"KafkaAdminClient", "KafkaConsumer", "KafkaProducer", "AIOKafkaProducer", "AIOKafkaConsumer", "Producer",
           "Consumer", "AdminClient"}


def test_no_client_is_constructed_without_the_security_settings():
    """Every Kafka client constructor call in the product passes our security arguments: kafka-python
    and aiokafka ones as **kwargs, librdkafka ones inside the config dict, Faust's app as
    broker_credentials. A new call site without them fails here."""
    seen = []
    for path in sorted((ROOT / "streams").rglob("*.py")) + sorted((ROOT / "agents").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            where = f"{path.relative_to(ROOT)}:{node.lineno} {name}"
            if name in CLIENTS:
                starred = [kw for kw in node.keywords if kw.arg is None]
                in_dict = [k for arg in node.args if isinstance(arg, ast.Dict) for k in arg.keys if k is None]
                assert starred or in_dict, f"{where}: constructed without the security settings"
                seen.append(where)
            if name == "App" and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "faust":
                assert "broker_credentials" in {kw.arg for kw in node.keywords}, where
                seen.append(where)
    assert len(seen) >= 10  # the walk found the call sites (admin, consumers, producers, app)
