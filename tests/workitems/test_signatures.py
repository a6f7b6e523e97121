"""The verifiers against the known-answer vectors of the shared fixtures."""

import json
from pathlib import Path

from workitems import signatures as s

FIX = Path(__file__).resolve().parent.parent / "fixtures"


def headers(name):
    return json.loads((FIX / f"{name}.headers.json").read_text())


def test_slack_known_answer_from_slack_docs():
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    sig = s.slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body)
    assert sig == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_fixture_verifies_and_replays_are_refused():
    body = (FIX / "slack_slash_command.raw.txt").read_bytes()
    h = {
        "X-Slack-Request-Timestamp": "1716890700",
        "X-Slack-Signature": "v0=56bda8e67015b8a312a5c23491224bd878412040f63550b4b7a7a5a63f99e2e1",
    }
    assert s.verify_slack("test-secret", h, body, now=1716890700 + 299) is None
    assert (
        s.verify_slack("test-secret", h, body, now=1716890700 + 301)
        == "stale or future-dated timestamp"
    )
    assert s.verify_slack("wrong", h, body, now=1716890700) == "signature mismatch"
    assert s.verify_slack("test-secret", {}, body) is not None


def test_github_and_jira_known_answers():
    assert s.hub_signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    body = (FIX / "github_issues_opened.json").read_bytes()
    good = {
        "X-Hub-Signature-256": "sha256=406150c8164230f2543e9318414fba7b3c3a9cc030294069ea2686e4fbd3472e"
    }
    assert s.verify_github("test-secret", good, body) is None
    assert s.verify_github("test-secret", good, body + b" ") == "signature mismatch"
    jira = (FIX / "jira_issue_created.json").read_bytes()
    jh = {
        "X-Hub-Signature": "sha256=e0415fdbd68ba919fa2ff74504a79e1761a19c18c7fd16d985827d0c6848ef5d"
    }
    assert s.verify_jira("test-secret", jh, jira) is None
    assert (
        s.verify_jira("test-secret", {"X-Hub-Signature": "sha1=abc"}, jira)
        == "malformed X-Hub-Signature"
    )


def test_linear_known_answer_and_window():
    body = (FIX / "linear_issue_create.json").read_bytes()
    h = {"Linear-Signature": "e85d09dfa78d12b4a3db52decb5735754e2a79dd9a88c28d8e02026acdf10bbc"}
    assert s.verify_linear("test-secret", h, body, now_ms=1716891302312 + 59_000) is None
    assert s.verify_linear("test-secret", h, body, now_ms=1716891302312 + 61_000) is not None


def test_authorization_header():
    assert (
        s.verify_authorization("Bearer test-secret", {"Authorization": "Bearer test-secret"})
        is None
    )
    assert (
        s.verify_authorization("Bearer test-secret", {"authorization": "Bearer nope"})
        == "wrong credentials"
    )
