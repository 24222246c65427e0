"""Settings: ``PAYAM_*`` variables, and the server secret kept in the data directory."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from payam.config import MIN_SECRET_LENGTH, Settings, Switch
from payam.domain.limits import Limit, Rate


def test_every_setting_comes_from_a_payam_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAYAM_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PAYAM_PORT", "9099")
    monkeypatch.setenv("PAYAM_HOST", "0.0.0.0")
    monkeypatch.setenv("PAYAM_RATE_LIMITS", "off")
    monkeypatch.setenv("PAYAM_LIMITS", '{"auth_code_per_ip": "20/3600"}')
    monkeypatch.setenv("PAYAM_CODE_RESEND_WAITS", "5,10")
    monkeypatch.setenv("PAYAM_DEFAULT_REGION", "IR")
    settings = Settings()
    assert settings.data_dir == tmp_path / "d"
    assert settings.port == 9099
    assert settings.host == "0.0.0.0"
    assert settings.rate_limits is Switch.off
    assert not settings.rate_limits_enabled
    assert settings.rate(Limit.auth_code_per_ip) == Rate(20, 3600)
    assert settings.code_resend_waits == (5, 10)
    assert settings.default_region == "IR"


def test_defaults_bind_to_loopback_with_sqlite_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("PAYAM_HOST", "PAYAM_PORT", "PAYAM_DATABASE_URL", "PAYAM_RATE_LIMITS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path)
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.rate_limits_enabled
    url = settings.resolved_database_url()
    assert url == f"sqlite+aiosqlite:///{(tmp_path / 'payam.sqlite3').resolve()}"


@pytest.mark.parametrize("text", ["5,10", " 5, 10 ", "[5, 10]"])
def test_code_resend_waits_read_as_a_list_or_json(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("PAYAM_CODE_RESEND_WAITS", text)
    assert Settings().code_resend_waits == (5, 10)


def test_an_unknown_limit_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown limit"):
        Settings(limits={"no_such_limit": "1/1"})


def test_the_secret_is_generated_private_and_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    first = Settings(data_dir=data_dir).secret()
    key = data_dir / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(first) >= MIN_SECRET_LENGTH
    assert Settings(data_dir=data_dir).secret() == first
    assert Settings(data_dir=tmp_path / "other").secret() != first
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]  # no staging file left


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    """Many starters at once on an empty data dir: all get the same, complete key."""
    for attempt in range(30):
        data_dir = tmp_path / str(attempt)
        barrier = threading.Barrier(8)
        keys: list[bytes] = []

        def start(
            data_dir: Path = data_dir,
            barrier: threading.Barrier = barrier,
            keys: list[bytes] = keys,
        ) -> None:
            barrier.wait()
            keys.append(Settings(data_dir=data_dir).secret())

        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(keys) == 8
        assert len(set(keys)) == 1, keys
        assert len(keys[0]) >= MIN_SECRET_LENGTH


def test_an_empty_or_truncated_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("short\n")
    with pytest.raises(ValueError, match="usable secret"):
        Settings(data_dir=tmp_path).secret()


@pytest.mark.parametrize("value", ["", "   ", "x" * (MIN_SECRET_LENGTH - 1)])
def test_a_short_secret_key_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PAYAM_SECRET_KEY", value)
    with pytest.raises(ValidationError, match="PAYAM_SECRET_KEY"):
        Settings()


def test_a_secret_key_variable_is_used_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAYAM_SECRET_KEY", "k" * MIN_SECRET_LENGTH)
    assert Settings(data_dir=tmp_path).secret() == b"k" * MIN_SECRET_LENGTH
    assert not (tmp_path / "secret.key").exists()


def test_trusted_proxies_are_addresses_or_networks_and_default_to_none() -> None:
    """Issue 9.16: nobody's forwarded headers are believed unless configured, and a typo is
    refused rather than read as "trust nobody" or "trust everyone"."""
    from payam.cli.main import server_options  # noqa: PLC0415

    default = Settings()
    assert default.trusted_proxies == ()
    assert server_options(default)["proxy_headers"] is False
    configured = Settings(trusted_proxies="10.0.0.5, 192.168.1.0/24,::1")  # type: ignore[arg-type]
    assert configured.trusted_proxies == ("10.0.0.5", "192.168.1.0/24", "::1")
    options = server_options(configured)
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.5", "192.168.1.0/24", "::1"]
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.5,localhost")  # type: ignore[arg-type]
