"""Headless Chromium under Selenium, offline, for the browser tests.

Debian's `chromium` and `chromium-driver` (installed by `scripts/test`) are used as they
are: the driver's path is given explicitly and `SE_OFFLINE=true`, so Selenium Manager never
tries to download a browser or a driver. Chromium runs with the flags that keep it from
reaching out to the network (there is none here; without them it makes connections that
are refused) and a fresh profile:

    with chromium(tmp_path / "profile") as driver:
        driver.get("http://127.0.0.1:8080/")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

__all__ = ["CHROMEDRIVER", "CHROMIUM", "CHROMIUM_FLAGS", "artifacts_dir", "chromium"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
ARTIFACTS_ENV_VAR = "MODQUEUE_TEST_ARTIFACTS"


def artifacts_dir() -> Path:
    """Where tests keep what a person should look at (screenshots): `MODQUEUE_TEST_ARTIFACTS`,
    else `.cache/artifacts` in the repository (git-ignored)."""
    value = os.environ.get(ARTIFACTS_ENV_VAR, "").strip()
    folder = Path(value) if value else Path(__file__).resolve().parents[2] / ".cache" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(profile: Path, *, width: int = 1400, height: int = 1000) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile in `profile`; quit on leaving the block.

    Raises `RuntimeError` naming the fix when Chromium or its driver is missing.
    """
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            raise RuntimeError(
                f"{path} is missing: run scripts/test, which installs Debian's {package}"
            )
    before = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try the network
    if profile.exists():
        shutil.rmtree(profile)
    profile.mkdir(parents=True)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # driver.get_log
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(profile.parent / "chromedriver.log")
    )
    try:
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        if before is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = before
