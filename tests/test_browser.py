"""The HTML report in a real headless browser: Chromium from Debian's packages, driven by selenium.

Each page is written by ``paramcount count TARGET --format html --output FILE`` for a live model, a checkpoint file
and a model folder, then loaded from disk: no console errors, the totals in the DOM equal the JSON document's,
clicking a block zooms into it, and a screenshot is not blank. Skipped, saying why, only where no Chromium and
chromedriver are installed (``apt-get install chromium chromium-driver``; `.ci/run` installs them).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.tiny import tiny_model

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

torch = pytest.importorskip("torch")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium drives the browser")

CHROMIUM = os.environ.get("PARAMCOUNT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = os.environ.get("PARAMCOUNT_CHROMEDRIVER") or shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no Chromium or chromedriver here: apt-get install chromium chromium-driver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.add_argument("--disable-dev-shm-usage")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _page(target: str, page: Path) -> dict[str, Any]:
    """Write the HTML page of ``target`` with the command line; return its JSON document."""
    for format, output in (("html", ["--output", str(page)]), ("json", [])):
        done = subprocess.run(
            [sys.executable, "-m", "paramcount", "count", target, "--format", format, *output],
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _targets(folder: Path) -> dict[str, str]:
    from safetensors.torch import save_file

    model = tiny_model("LlamaForCausalLM", "llama")
    model.save_pretrained(folder / "llama")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "llama.safetensors")
    return {
        "live": "tests.zoo:FrozenBackbone()",
        "file": str(folder / "llama.safetensors"),
        "folder": str(folder / "llama"),
    }


@pytest.mark.parametrize("kind", ["live", "file", "folder"])
def test_the_page_shows_the_counts_zooms_and_draws(browser: Any, tmp_path: Path, kind: str) -> None:
    from PIL import Image
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    document = _page(_targets(tmp_path)[kind], page)
    browser.get(page.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    for ident, value in (
        ("total-parameters", document["parameters"]["total"]),
        ("trainable-parameters", document["parameters"]["trainable"]),
        ("buffer-elements", document["buffers"]["total"]),
    ):
        element = browser.find_element(By.ID, ident)
        assert element.get_attribute("data-value") == ("" if value is None else str(value))
        assert element.text == ("unknown" if value is None else f"{value:,}")
    blocks = browser.find_elements(By.CSS_SELECTOR, "#icicle .block")
    drawn = {b.get_attribute("data-path"): int(b.get_attribute("data-parameters")) for b in blocks}
    rows = {row["path"]: row["parameters"] for row in document["modules"]}
    assert drawn.items() <= rows.items()  # every block is a module row with its exact count
    assert "" in drawn
    # zoom into the largest child of the root, then back out
    children = [row for row in document["modules"] if row["depth"] == 1 and row["parameters"]]
    biggest = max(children, key=lambda row: row["parameters"])
    browser.find_element(By.CSS_SELECTOR, f'#icicle .block[data-path="{biggest["path"]}"]').click()
    assert browser.find_element(By.ID, "zoom-path").get_attribute("data-path") == biggest["path"]
    top = browser.find_elements(By.CSS_SELECTOR, "#icicle .block")[0]
    assert top.get_attribute("data-path") == biggest["path"]
    assert top.size["width"] > 1000  # the zoomed block spans the whole chart
    browser.find_element(By.ID, "zoom-out").click()
    assert browser.find_element(By.ID, "zoom-path").get_attribute("data-path") == ""
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    colours = shot.resize((320, 250)).getcolors(maxcolors=1 << 16)
    assert colours is not None
    assert len(colours) > 20  # text, cards and the chart's colours: not a blank page


def test_names_from_a_file_stay_text_in_the_page(browser: Any, tmp_path: Path) -> None:
    """A tensor named with markup is shown as text wherever the page draws it, the hover tip included."""
    import numpy as np
    from safetensors.numpy import save_file
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    hostile = '<img src=x onerror="window.pwned=1">'
    names = {
        f"{hostile}.weight": (40, 40),
        "rtl\u202eevil.weight": (30, 30),
        "plain.weight": (20, 20),
        "<!--<script>.weight": (10, 10),  # inside the page's JSON this once swallowed the page's own script
    }
    path = tmp_path / "hostile.safetensors"
    save_file({name: np.zeros(shape, dtype=np.float32) for name, shape in names.items()}, str(path))
    page = tmp_path / "report.html"
    _page(str(path), page)
    browser.get(page.as_uri())
    blocks = browser.find_elements(By.CSS_SELECTOR, "#icicle .block")
    assert len(blocks) >= len(names)  # the script ran: every module drawn
    for block in blocks:
        ActionChains(browser).move_to_element(block).perform()
        assert browser.find_elements(By.CSS_SELECTOR, "#tip img") == []
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    assert browser.execute_script("return window.pwned === undefined")
    tip = browser.find_element(By.ID, "tip").text + browser.find_element(By.ID, "icicle").text
    assert "\u202e" not in tip and "\\u202e" in tip  # drawn as an escape, not applied
