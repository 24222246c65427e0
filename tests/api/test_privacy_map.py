"""The data map is served and printed from the schema (P7.1)."""

from __future__ import annotations

from typer.testing import CliRunner

from payam.cli.main import app
from payam.storage.data_map import personal_fields
from tests.conftest import Harness


async def test_get_privacy_map_serves_every_personal_field_without_sign_in(
    harness: Harness,
) -> None:
    response = await harness.http.get("/v1/privacy/map")
    assert response.status_code == 200
    served = {(f["table"], f["column"]): f for f in response.json()["fields"]}
    assert set(served) == {(f.table, f.column) for f in personal_fields()}
    phone = served[("users", "phone")]
    assert "P1.1" in phone["purposes"]
    assert phone["retention"] == "account"
    # Issue 9 #7: personal data in files of the data directory is declared too.
    files = {(f["file"], f["field"]): f for f in response.json()["files"]}
    assert files[("sms-outbox.jsonl", "to")]["category"] == "phone"
    assert files[("sms-outbox.jsonl", "to")]["retention"] == "sms_outbox"


def test_payam_privacy_map_prints_the_map() -> None:
    result = CliRunner().invoke(app, ["privacy", "map", "--markdown"])
    assert result.exit_code == 0, result.output
    for field in personal_fields():
        assert f"`{field.table}.{field.column}`" in result.output
