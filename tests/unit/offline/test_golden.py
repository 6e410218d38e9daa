from tests.golden import expected_alerts, offline_alerts


def test_the_golden_fixture_gives_exactly_the_expected_alerts():
    expected = expected_alerts()
    assert len(expected) == 21
    assert offline_alerts() == expected
