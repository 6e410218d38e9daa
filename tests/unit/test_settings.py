import subprocess
import sys

import pytest

from streams.settings import Settings, load_action_table


def test_the_default_action_table_comes_with_the_package():
    assert Settings().actions_file == ""
    table = load_action_table("")
    assert table.high_value[0] == "personal_contact" and table.by_driver


def test_a_missing_action_table_is_one_line_naming_the_setting(tmp_path):
    with pytest.raises(ValueError, match=r"^CHURNGUARD_ACTIONS_FILE=.*nope\.toml: No such file or directory$"):
        load_action_table(tmp_path / "nope.toml")


def test_the_worker_refuses_a_missing_action_table_before_connecting(tmp_path):
    done = subprocess.run([sys.executable, "-m", "streams.cli", "worker", "--broker", "127.0.0.1:1"],
                          env={"CHURNGUARD_ACTIONS_FILE": str(tmp_path / "nope.toml"), "CHURNGUARD_LOG_FORMAT": "json",
                               "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "bad_setting" in lines[0] and "CHURNGUARD_ACTIONS_FILE" in lines[0]


def test_a_bad_value_names_its_variable():
    with pytest.raises(ValueError, match=r"^CHURNGUARD_WEB_PORT='abc': "):
        Settings.from_env({"CHURNGUARD_WEB_PORT": "abc"})
    with pytest.raises(ValueError, match=r"^CHURNGUARD_WEB_DEBUG='maybe': not a boolean"):
        Settings.from_env({"CHURNGUARD_WEB_DEBUG": "maybe"})
    assert Settings.from_env({"CHURNGUARD_WEB_DEBUG": "true"}).web_debug
    assert not Settings().web_debug  # per-user endpoints are off unless asked for


def test_every_command_refuses_a_bad_setting_in_one_line():
    done = subprocess.run([sys.executable, "-m", "streams.cli", "topics"],
                          env={"CHURNGUARD_FLUSH_EVERY_EVENTS": "lots", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "CHURNGUARD_FLUSH_EVERY_EVENTS='lots'" in lines[0]


def test_the_settings_reference_is_current_and_complete():
    """docs/settings.md is what `churnguard settings` prints; every setting has a meaning."""
    from dataclasses import fields
    from pathlib import Path

    from streams.settings import reference

    assert all(f.metadata.get("doc") for f in fields(Settings))
    doc = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
    assert doc.read_text() == reference(), "docs/settings.md is stale: churnguard settings > docs/settings.md"
    for f in fields(Settings):
        assert f"`CHURNGUARD_{f.name.upper()}`" in doc.read_text()


def test_every_setting_the_deploy_files_set_exists_and_parses():
    import re
    from dataclasses import fields
    from pathlib import Path

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    names = {f"CHURNGUARD_{f.name.upper()}" for f in fields(Settings)}
    found = {}
    for path in [*deploy.rglob("*.yaml"), deploy / "Dockerfile"]:
        for name, value in re.findall(r"(CHURNGUARD_[A-Z0-9_]+)[\"']?\s*[:=]\s*\"?([^\"\s\\\\]*)", path.read_text()):
            assert name in names, f"{path.name}: {name} is no setting"
            found[name] = value
    assert "CHURNGUARD_PARTITIONS" in found
    Settings.from_env(found)  # every value parses
