from streams.kafka.metrics import render

STATUS = {
    "ready": True, "received": 10, "outcomes_received": 2, "alerts_sent": 3, "holdout_recorded": 1,
    "dead_letters_sent": 3, "dead_letters_failed": 0, "flushes": 4, "unflushed": 0, "dead_letters_by_reason": {"invalid": 2, "late": 1},
    "sources": [{"topic": "clicks", "partition": 0, "position": 7, "highwater": 10, "lag": 3},
                {"topic": "clicks", "partition": 1, "position": 0, "highwater": None, "lag": None}],
    "partitions": {
        "0": {"buffered": 5, "released_until": 1000, "source_max_ts": {"click": 4000, "purchase": 1500},
              "idle": ["click"], "model_labels": 7, "model_ready": False,
              "model_quality": {"n": 5, "positives": 2, "roc_auc": 0.75, "log_loss": 0.4, "drifts": 1,
                                "calibration_error": 0.05},
              "counters": {"applied": 9, "outcome_unsubscribed": 1, "duplicates": 2, "redelivered": 5,
                           "labels_0": 3, "labels_1": 4, "suppressed_cap": 2,
                           "winback_treatment_watch_returned": 1, "winback_treatment_watch_lost": 3,
                           "winback_control_watch_lost": 2}},
        "1": {"buffered": 0, "released_until": -1, "source_max_ts": {}, "idle": [], "model_labels": 0, "model_ready": True,
              "model_quality": {"n": 0, "positives": 0, "roc_auc": None, "log_loss": None, "drifts": 0,
                                "calibration_error": None},
              "counters": {"winback_control_watch_returned": 2}},
    },
    "table": {"users": 4},
    "received_by_topic": {"clicks": 7, "purchases": 3},
    "alerts_by_tier": [{"arm": "treatment", "tier": "high", "alerts": 3}, {"arm": "control", "tier": "high", "alerts": 1}],
    "recent_alerts": [],
    "changelog_bytes": {"users": 3000, "partitions": 800},
    "user_record_bytes": {"buckets": [1024, 2048], "counts": [1, 2, 0]},
}


def test_prometheus_exposition():
    from prometheus_client.parser import text_string_to_metric_families

    text = render(STATUS)
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("churnguard_received_total") == 10
    assert value("churnguard_outcomes_total", partition="0", status="unsubscribed") == 1
    assert value("churnguard_alerts_suppressed_total", partition="0", reason="cap") == 2
    assert value("churnguard_engine_total", partition="0", counter="applied") == 9
    assert value("churnguard_winback_total", partition="0", arm="treatment", tier="watch", verdict="lost") == 3
    # The share is over all partitions: treated 1 of 4 returned, control 2 of 4.
    assert value("churnguard_winback_share", arm="treatment", tier="watch") == 0.25
    assert value("churnguard_winback_share", arm="control", tier="watch") == 0.5
    assert value("churnguard_model_roc_auc", partition="0") == 0.75
    assert value("churnguard_model_roc_auc", partition="1") is None  # nothing to judge yet: no sample
    assert value("churnguard_consumer_lag_records", topic="clicks", partition="0") == 3
    assert value("churnguard_consumer_lag_records", topic="clicks", partition="1") is None
    assert value("churnguard_event_time_lag_ms", partition="0") == 3000  # newest seen 4000, watermark 1000
    assert value("churnguard_event_time_lag_ms", partition="1") is None  # nothing released yet
    assert value("churnguard_ready") == 1 and value("churnguard_users") == 4
    assert value("churnguard_dead_letters_total", reason="invalid") == 2 and value("churnguard_dead_letters_total", reason="late") == 1
    assert value("churnguard_events_received_total", topic="purchases") == 3
    assert value("churnguard_alerts_total", arm="treatment", tier="high") == 3
    assert value("churnguard_duplicates_total", partition="0", copy="redelivered") == 5
    assert value("churnguard_labels_resolved_total", partition="0", label="churned") == 4
    assert value("churnguard_engine_total", partition="0", counter="duplicates") is None  # its own family
    assert value("churnguard_model_calibration_error", partition="0") == 0.05
    assert value("churnguard_changelog_bytes_total", table="users") == 3000
    assert value("churnguard_user_record_bytes_bucket", le="2048.0") == 3
    assert value("churnguard_user_record_bytes_bucket", le="+Inf") == 3
    assert value("churnguard_user_record_bytes_count") == 3 and value("churnguard_user_record_bytes_sum") == 3000
    # prometheus_client's standard families for the process and its garbage collector
    assert value("process_resident_memory_bytes") > 0 and value("process_cpu_seconds_total") > 0
    assert value("python_gc_collections_total", generation="2") is not None
