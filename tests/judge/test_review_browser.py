"""The review page in a real headless Chromium (Selenium) against the real server on loopback.

Chromium and its driver come from Debian (`make browser`, run by CI); without them the test is skipped
with a message, except in CI, where it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from clinreason.judge import JudgeItem, load_rubric
from clinreason.judge.review import ReviewStore, review_patients
from clinreason.judge.review_app import create_review_app
from doubles import Server

RUBRIC = load_rubric("kwon")


def _driver() -> Any:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        message = "no chromium + chromedriver (make browser installs them from Debian)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def _rate_current_patient(browser: Any, score: int) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    title = wait.until(seen.visibility_of_element_located((By.ID, "patient-title"))).text
    for slot in "AB":
        for criterion in RUBRIC.names:
            browser.find_element(By.CSS_SELECTOR, f'input[name="{slot}-{criterion}"][value="{score}"]').click()
    browser.find_element(By.NAME, "A-comment").send_keys("reads well")
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda b: b.find_element(By.ID, "patient-title").text != title)
    return title


def _start(browser: Any, url: str, rater: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.find_element(By.ID, "rater").send_keys(rater)
    browser.find_element(By.ID, "start").click()


@pytest.mark.slow
def test_a_rater_rates_the_server_restarts_and_the_rater_resumes(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    items = [
        JudgeItem(
            record_id=f"p{i}", model=model, patient=f"Patient {i}: glucose 171 mg/dL.", rationale=f"{model} says {i}."
        )
        for i in range(4)
        for model in ("student:a", "teacher:few-shot")
    ]
    patients = review_patients(items)
    database = tmp_path / "review.sqlite"
    browser = _driver()
    try:
        with Server(create_review_app(ReviewStore(database), RUBRIC, patients)) as url:
            _start(browser, url, "dr-ann")
            assert _rate_current_patient(browser, 4) == "Patient p0"
            assert _rate_current_patient(browser, 2) == "Patient p1"
        # the server is gone; a new one on the same database, a fresh page
        with Server(create_review_app(ReviewStore(database), RUBRIC, patients)) as url:
            _start(browser, url, "dr-ann")
            title = WebDriverWait(browser, 20).until(seen.visibility_of_element_located((By.ID, "patient-title")))
            assert title.text == "Patient p2"  # resumed at the next patient
            assert "Patient 3 of 4" in browser.find_element(By.ID, "status").text
    finally:
        browser.quit()
    rows = ReviewStore(database).rows()
    assert len(rows) == 4 and {r["record_id"] for r in rows} == {"p0", "p1"}
    assert {r["scores"]["consistency"] for r in rows} == {4, 2}
    assert sum(r["comment"] == "reads well" for r in rows) == 2


@pytest.mark.slow
def test_ratings_survive_a_sigkilled_review_server(run_folder: Path, tmp_path: Path) -> None:
    """`clinreason review` in its own process, killed with SIGKILL after two ratings and started again."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"

    def serve() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "clinreason", "review", str(run), "--port", str(port), "--limit", "4"]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, "clinreason review exited"
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("clinreason review did not start in 120 s")

    browser = _driver()
    server = serve()
    try:
        _start(browser, url, "dr-bo")
        first = _rate_current_patient(browser, 5)
        second = _rate_current_patient(browser, 3)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server = serve()
        _start(browser, url, "dr-bo")
        title = WebDriverWait(browser, 20).until(seen.visibility_of_element_located((By.ID, "patient-title")))
        assert title.text not in {first, second}  # resumed after the two rated patients
        assert "Patient 3 of 4" in browser.find_element(By.ID, "status").text
    finally:
        browser.quit()
        server.kill()
        server.wait(timeout=30)
    rows = ReviewStore(run / "review.sqlite").rows()
    assert {r["rater"] for r in rows} == {"dr-bo"}
    assert {f"Patient {r['record_id']}" for r in rows} == {first, second}
    assert sorted({r["scores"]["consistency"] for r in rows}) == [3, 5]
