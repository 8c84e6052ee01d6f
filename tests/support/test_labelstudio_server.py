"""Smoke test for the Label Studio test server: auth flows and a restart keeping data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .labelstudio_server import LabelStudioServer

pytestmark = pytest.mark.slow  # a real Label Studio server

LABEL_CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="verdict" toName="text"><Choice value="remove"/><Choice value="keep"/></Choices>'
    "</View>"
)


@pytest.fixture(scope="module")
def server() -> Iterator[LabelStudioServer]:
    with LabelStudioServer() as ls:
        yield ls


def _project_titles(server: LabelStudioServer) -> list[str]:
    status, body = server.request("GET", "/api/projects/", token=server.legacy_token)
    assert status == 200, body
    return [project["title"] for project in body["results"]]


def test_health_answers(server: LabelStudioServer) -> None:
    status, body = server.request("GET", "/health/")
    assert status == 200
    assert body == {"status": "UP"}
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_legacy_token_lists_projects(server: LabelStudioServer) -> None:
    status, body = server.request("GET", "/api/projects/", token=server.legacy_token)
    assert status == 200, body
    assert "results" in body


def test_requests_without_or_with_a_wrong_token_are_refused(server: LabelStudioServer) -> None:
    status, _ = server.request("GET", "/api/projects/")
    assert status == 401
    status, _ = server.request("GET", "/api/projects/", token="not-the-token")
    assert status == 401


def test_personal_access_token_refreshes_to_a_bearer_token(server: LabelStudioServer) -> None:
    pat = server.personal_access_token()
    assert pat.count(".") == 2  # a JWT
    assert server.personal_access_token() == pat  # created once, then reused
    access = server.access_token()
    status, body = server.request("GET", "/api/projects/", bearer=access)
    assert status == 200, body
    status, body = server.request("GET", "/api/current-user/whoami", bearer=access)
    assert status == 200, body
    assert body["email"] == server.email


def test_create_user_gives_a_working_token(server: LabelStudioServer) -> None:
    token = server.create_user("annotator1@modqueue.test", "annotator-password-1")
    status, body = server.request("GET", "/api/current-user/whoami", token=token)
    assert status == 200, body
    assert body["email"] == "annotator1@modqueue.test"


def test_restart_keeps_port_data_and_tokens(server: LabelStudioServer) -> None:
    status, body = server.request(
        "POST",
        "/api/projects/",
        token=server.legacy_token,
        json_body={"title": "survives restart", "label_config": LABEL_CONFIG},
    )
    assert status == 201, body
    port, pid, pat = server.port, server.pid, server.personal_access_token()

    server.restart()

    assert server.port == port
    assert server.pid != pid
    assert "survives restart" in _project_titles(server)
    status, body = server.request("GET", "/api/projects/", bearer=server.access_token(pat))
    assert status == 200, body
