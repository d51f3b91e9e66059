import os
import re
import shutil

import httpx
import pytest
import sqlalchemy as sa

from enclosure.server._ui import SESSION_COOKIE, Sessions

CHROMIUM = shutil.which("chromium")


@pytest.fixture
def db_url(tmp_path):
    """The dashboard is the same on both databases: its tests use SQLite only."""
    return f"sqlite:///{tmp_path / 'ui.db'}"


@pytest.fixture(scope="module")
def browser():
    """One browser for this module; Playwright's sync API holds an event loop on
    this thread while it runs, so it stops before other modules' asyncio tests."""
    if CHROMIUM is None:
        if os.geteuid() == 0:
            pytest.fail("chromium is missing; scripts/test installs it as root")
        pytest.skip(
            "Debian's chromium is not installed (sudo apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    playwright = sync_playwright().start()
    launched = playwright.chromium.launch(executable_path=CHROMIUM)
    yield launched
    launched.close()
    playwright.stop()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def login(page, server, role):
    page.goto(server.url + "/ui/runs")
    assert page.url.endswith("/ui/login")
    page.fill("#token", server.tokens[role])
    page.click("#login")
    page.wait_for_url(re.compile(r".*/ui/runs$"))


def seed(server):
    agent = server.client("agent")
    run_id = agent.start_run("pay the invoice")["run_id"]
    agent.call(run_id, "lookup", {"key": "invoice-42"})
    result = agent.call(
        run_id, "pay", {"amount": 1250}, context={"ticket": "T-7: pay invoice 42"}
    )
    return agent, run_id, result["approval_id"]


def test_each_page_renders_for_an_approver_with_a_screenshot(server, page, shots):
    _, run_id, approval_id = seed(server)
    page.goto(server.url + "/ui/login")
    page.screenshot(path=shots / "login.png", full_page=True)
    page.fill("#token", "enc_wrong")
    page.click("#login")
    assert "not valid" in page.inner_text("#error")
    login(page, server, "approver")
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
        True,
        True,
        "Strict",
    )
    assert run_id in page.inner_text("#runs")
    page.screenshot(path=shots / "runs.png", full_page=True)
    page.click(f"text={run_id}")
    page.wait_for_selector("#timeline tr.event")
    assert "decision" in page.inner_text("#timeline")
    page.screenshot(path=shots / "run.png", full_page=True)
    page.goto(server.url + "/ui/approvals")
    card = page.inner_text(f"#approval-{approval_id}")
    assert '"amount": 1250' in card
    assert "T-7: pay invoice 42" in card
    assert "pay" in card
    page.screenshot(path=shots / "approvals.png", full_page=True)
    page.goto(server.url + "/ui/audit")
    assert "Intact" in page.inner_text("#audit-status")
    page.screenshot(path=shots / "audit.png", full_page=True)
    for name in ("login", "runs", "run", "approvals", "audit"):
        assert (shots / f"{name}.png").stat().st_size > 1000


def test_an_approval_decided_in_the_browser_releases_the_call(server, page, shots):
    agent, run_id, approval_id = seed(server)
    login(page, server, "approver")
    page.goto(server.url + "/ui/approvals")
    page.fill(f"#approval-{approval_id} input[name=reason]", "invoice checked")
    page.click(f"#approval-{approval_id} button.approve")
    page.wait_for_selector("#message")
    assert "approved" in page.inner_text("#message")
    page.screenshot(path=shots / "approved.png", full_page=True)
    decided = server.client().request("GET", f"/api/approvals/{approval_id}")
    assert (decided["status"], decided["decided_by"]) == ("approved", "bob")
    done = agent.call(run_id, "pay", {"amount": 1250}, approval_id=approval_id)
    assert done["status"] == "executed"


def test_the_timeline_is_live_and_an_operator_kills_the_run(server, page, shots):
    agent, run_id, _ = seed(server)
    login(page, server, "operator")
    page.goto(f"{server.url}/ui/runs/{run_id}")
    before = page.locator("#timeline tr.event").count()
    agent.call(run_id, "lookup", {"key": "live-one"})
    page.wait_for_function(
        f"document.querySelectorAll('#timeline tr.event').length > {before}"
    )
    page.fill("#kill-reason", "runaway spend")
    page.click("#kill")
    page.wait_for_selector("#status.status-killed")
    page.screenshot(path=shots / "killed.png", full_page=True)
    assert server.client().request("GET", f"/api/runs/{run_id}")["status"] == "killed"
    [kill] = [s.event for s in server.enc.log.events(run_id=run_id, kinds=["kill"])]
    assert kill.by == "olga"


def test_a_viewer_sees_no_buttons_and_cannot_post_decisions(server, page):
    _, _, approval_id = seed(server)
    login(page, server, "viewer")
    page.goto(server.url + "/ui/approvals")
    assert page.locator("button.approve").count() == 0
    response = page.request.post(
        f"{server.url}/ui/approvals/{approval_id}/decide",
        form={"decision": "approve", "csrf": "whatever"},
    )
    assert response.status == 403


def session_cookie(server, role):
    """Log in over HTTP, carrying the cookies by hand (they are Secure)."""
    form = httpx.get(server.url + "/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    response = httpx.post(
        server.url + "/ui/login",
        data={"csrf": csrf, "token": server.tokens[role]},
        headers={"Cookie": f"enclosure_csrf={csrf}"},
    )
    assert response.status_code == 303
    value = re.search(rf"{SESSION_COOKIE}=([^;]+)", response.headers["set-cookie"])
    page = httpx.get(
        server.url + "/ui/approvals", headers={"Cookie": f"{SESSION_COOKIE}={value[1]}"}
    )
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return f"{SESSION_COOKIE}={value[1]}", token


def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(server):
    _, _, approval_id = seed(server)
    cookie, csrf = session_cookie(server, "approver")
    url = f"{server.url}/ui/approvals/{approval_id}/decide"
    refused = httpx.post(url, data={"decision": "approve"}, headers={"Cookie": cookie})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "E-UI-CSRF")
    foreign = httpx.post(
        url,
        data={"decision": "approve", "csrf": csrf},
        headers={"Cookie": cookie, "Origin": "https://evil.example"},
    )
    assert foreign.json()["error"]["code"] == "E-UI-ORIGIN"
    login_csrf = httpx.post(server.url + "/ui/login", data={"token": "x"})
    assert login_csrf.json()["error"]["code"] == "E-UI-CSRF"
    assert (
        server.client().request("GET", f"/api/approvals/{approval_id}")["status"]
        == "pending"
    )
    accepted = httpx.post(
        url, data={"decision": "deny", "csrf": csrf}, headers={"Cookie": cookie}
    )
    assert accepted.status_code == 200


def test_a_session_survives_a_server_restart_and_only_its_hash_is_stored(server):
    cookie, _ = session_cookie(server, "viewer")
    value = cookie.partition("=")[2]
    server.restart()
    after = httpx.get(server.url + "/ui/runs", headers={"Cookie": cookie})
    assert after.status_code == 200
    assert "vic" in after.text
    with sa.create_engine(server.db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM ui_sessions")).all()
    assert value not in repr(rows)
    assert server.tokens["viewer"] not in repr(rows)


def test_sessions_end_with_their_token_and_their_time(server, clock):
    sessions = Sessions(server.enc.log)
    cookie, _ = sessions.create("h" * 64, clock.time())
    assert sessions.get(cookie, clock.time()) is not None
    assert sessions.get("other", clock.time()) is None
    assert sessions.get(cookie, clock.time() + 9 * 3600) is None
    cookie, _ = session_cookie(server, "viewer")
    token_id = server.client().request("GET", "/api/whoami")["token_id"]
    server.client("admin").request("POST", f"/api/tokens/{token_id}/revoke")
    after = httpx.get(server.url + "/ui/runs", headers={"Cookie": cookie})
    assert after.status_code == 303


def test_the_live_timeline_ends_when_its_session_logs_out(server):
    # At once: the logout asks the stream (the heartbeat stays at its 15 s).
    cookie, csrf = session_cookie(server, "viewer")
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "GET", server.url + "/ui/events", headers={"Cookie": cookie}
        ) as r,
    ):
        assert r.status_code == 200
        out = httpx.post(
            server.url + "/ui/logout", data={"csrf": csrf}, headers={"Cookie": cookie}
        )
        assert out.status_code == 303
        list(r.iter_lines())  # ends (a stream that went on would time out in 10 s)
