"""TLS end to end: the worker (Faust on aiokafka), the topic admin and consumers (kafka-python), the
replay producer (librdkafka) and the event producer (aiokafka) all reach the broker over mutual
TLS with the hostname checked, and a client without TLS or without the right CA gets nowhere.

The embedded broker serves no TLS itself (tests/tls_proxy.py says why), so a TLS terminator that
requires a client certificate stands in front of it and is the only address the broker
advertises. SASL has no end-to-end test: Tansu 0.6 keeps users in its in-memory store and
creates them only over an already authenticated connection, so its first user cannot be made.
"""

import ssl
from dataclasses import replace

import orjson
import pytest
import trustme

from streams.kafka.admin import BrokerUnreachable, check_reachable, create_topics, topic_messages, topic_records
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.offline.replay import Replay
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import run_worker_on
from streams.settings import Settings
from tests.tls_proxy import TlsTerminator

pytestmark = pytest.mark.integration


@pytest.fixture
def tls(tmp_path):
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("churnguard-worker")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "other_ca")}
    ca.cert_pem.write_to_path(files["ca"])
    client.cert_chain_pems[0].write_to_path(files["cert"])
    client.private_key_pem.write_to_path(files["key"])
    trustme.CA().cert_pem.write_to_path(files["other_ca"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no connection
    with TlsTerminator(context) as terminator:
        with EmbeddedBroker(advertised=f"127.0.0.1:{terminator.port}") as broker:
            terminator.start(broker.port)
            yield terminator, broker, files


def test_every_client_speaks_mutual_tls_to_the_broker(tls, tmp_path):
    terminator, broker, files = tls
    settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu", app_id="churnguard-tls",
                       web_port=free_port(), data_dir=str(tmp_path / "data"), broker_connect_timeout_s=5.0,
                       broker_security_protocol="SSL", broker_ssl_ca_file=str(files["ca"]),
                       broker_ssl_cert_file=str(files["cert"]), broker_ssl_key_file=str(files["key"]), web_debug=True,
                       alert_daily_budget_share=1.0)  # 60 users: the alerts read back need no daily budget
    create_topics(settings)  # kafka-python admin

    # Events through aiokafka, processed by a real worker (Faust's consumer, producer and tables).
    cfg = SimConfig(users=60, days=60, seed=5, bad_rate=0.0)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    status = run_worker_on(settings, records, tmp_path / "worker.log", timeout_s=300)
    assert status["returncode"] == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert status["received"] == len(records) and status["dead_letters_sent"] == 0
    alerts = list(topic_messages(settings, settings.topic_alerts)) + list(topic_messages(settings, settings.topic_holdout))
    assert alerts and {a["schema"] for a in alerts} == {"outreach_alert.v1"}  # read back with kafka-python

    # A replay (librdkafka) into the same topics over TLS.
    export = tmp_path / "purchases.jsonl"
    purchases = [orjson.loads(value) for kind, _, _, value in records if kind == "purchase"][:50]
    export.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in purchases))
    before = sum(1 for _ in topic_records(settings, settings.topic_purchases))
    stats = Replay(settings, [export], kind="purchase", checkpoint_dir=tmp_path).run()
    assert stats.produced == {settings.topic_purchases: len(purchases)}
    assert sum(1 for _ in topic_records(settings, settings.topic_purchases)) == before + len(purchases)
    assert terminator.handshakes > 0 and not [r for r in terminator.refused if "certificate" in r.lower()]

    # Without TLS, or trusting another CA, or without a client certificate: no broker.
    for wrong in (replace(settings, broker_security_protocol="PLAINTEXT"),
                  replace(settings, broker_ssl_ca_file=str(files["other_ca"])),
                  replace(settings, broker_ssl_cert_file="", broker_ssl_key_file="")):
        with pytest.raises(BrokerUnreachable):
            check_reachable(wrong)
