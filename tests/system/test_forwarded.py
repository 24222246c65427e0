"""Black-box (issue 9.16): ``payam serve`` believes ``X-Forwarded-For`` only from the proxies
in ``PAYAM_TRUSTED_PROXIES``. By default nobody is trusted, not even loopback, so a client
that names a new address in every request still spends one per-address budget; from a
configured proxy, the forwarded address is the client's, each with its own budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.system.test_server import free_port, running, server_env

pytestmark = pytest.mark.system

# Three codes an hour per address, so that the fourth request shows whose budget was spent.
LIMITS = '{"auth_code_per_ip": "3/3600"}'


def code_requests(tmp_path: Path, name: str, **env: str) -> list[int]:
    """Five code requests to five numbers, each claiming another forwarded address."""
    data_dir = tmp_path / name
    port = free_port()
    settings = server_env(
        PAYAM_DATA_DIR=str(data_dir), PAYAM_PORT=str(port), PAYAM_LIMITS=LIMITS, **env
    )
    with running(tmp_path, data_dir, port, [], settings) as server, server.http() as client:
        return [
            client.post(
                "/v1/auth/code",
                json={"phone": f"+98912555000{i}"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            ).status_code
            for i in range(5)
        ]


def test_a_rotating_x_forwarded_for_from_an_untrusted_peer_does_not_reset_the_limit(
    tmp_path: Path,
) -> None:
    assert code_requests(tmp_path, "untrusted") == [202, 202, 202, 429, 429]


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    statuses = code_requests(tmp_path, "trusted", PAYAM_TRUSTED_PROXIES="127.0.0.1/32,::1")
    assert statuses == [202] * 5
