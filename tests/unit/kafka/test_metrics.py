from streams.kafka.metrics import render

STATUS = {
    "ready": True, "received": 10, "outcomes_received": 2, "alerts_sent": 3, "holdout_recorded": 1,
    "dead_letters_sent": 0, "flushes": 4, "unflushed": 0,
    "partitions": {
        "0": {"buffered": 5, "released_until": 1000, "idle": ["click"], "model_labels": 7, "model_ready": False,
              "model_quality": {"n": 5, "positives": 2, "roc_auc": 0.75, "log_loss": 0.4, "drifts": 1},
              "counters": {"applied": 9, "outcome_unsubscribed": 1, "suppressed_cap": 2,
                           "winback_treatment_watch_returned": 1, "winback_treatment_watch_lost": 3,
                           "winback_control_watch_lost": 2}},
        "1": {"buffered": 0, "released_until": 2000, "idle": [], "model_labels": 0, "model_ready": True,
              "model_quality": {"n": 0, "positives": 0, "roc_auc": None, "log_loss": None, "drifts": 0},
              "counters": {"winback_control_watch_returned": 2}},
    },
    "table": {"users": 4},
}


def test_prometheus_exposition():
    text = render(STATUS)
    lines = text.splitlines()
    assert "churnguard_received_total 10" in lines
    assert 'churnguard_outcomes_total{partition="0",status="unsubscribed"} 1' in lines
    assert 'churnguard_alerts_suppressed_total{partition="0",reason="cap"} 2' in lines
    assert 'churnguard_engine_total{partition="0",counter="applied"} 9' in lines
    assert 'churnguard_winback_total{partition="0",arm="treatment",tier="watch",verdict="lost"} 3' in lines
    # The share is over all partitions: treated 1 of 4 returned, control 2 of 4.
    assert 'churnguard_winback_share{arm="treatment",tier="watch"} 0.25' in lines
    assert 'churnguard_winback_share{arm="control",tier="watch"} 0.5' in lines
    assert 'churnguard_model_roc_auc{partition="0"} 0.75' in lines
    assert not any(line.startswith('churnguard_model_roc_auc{partition="1"}') for line in lines)
    # Every family is declared once, before its samples.
    declared = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(declared) == len(set(declared))
    for line in lines:
        if not line.startswith("#"):
            name = line.split("{")[0].split()[0]
            assert name in declared
