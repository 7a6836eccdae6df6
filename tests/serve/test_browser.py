"""The page of `genlab serve` in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven with Selenium, over the tiny runs of conftest.py.

A user's gestures, and what the page then shows: a seed typed into the sample form, the slider
dragged with the mouse, a file uploaded, a query typed, strokes drawn on the canvas.
"""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
from PIL import Image

INSTALL = (
    "headless Chromium is needed: sudo apt-get install -y chromium chromium-driver "
    "(and .venv/bin/pip install selenium); .ci/run installs them on CI"
)
webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium is missing; {INSTALL}")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason=f"chromium or chromedriver missing; {INSTALL}"
)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def find(root, css):
    return root.find_element(By.CSS_SELECTOR, css)


def wait_for(browser, condition, timeout=30):
    """The first truthy value of condition(), retried while the page's requests finish."""
    wait = WebDriverWait(browser, timeout, poll_frequency=0.05, ignored_exceptions=(Exception,))
    return wait.until(lambda _: condition())


def drag_to_the_end(browser, slider, reached, tries: int = 3) -> None:
    """Drag a range slider past its right end, as a user would, until `reached()`. The other panels'
    images may still be loading and move the page under the pointer (seen in a busy full suite),
    so the slider is centred in view first and the drag is tried again, as a user would retry it."""
    for _ in range(tries):
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
        ActionChains(browser, duration=100).click_and_hold(slider).move_by_offset(
            slider.size["width"] // 2 + 10, 0
        ).release().perform()
        try:
            wait_for(browser, reached, timeout=10)
            return
        except TimeoutException:
            continue
    raise AssertionError(
        f"the slider did not reach its end after {tries} drags (value {slider.get_attribute('value')})"
    )


def pixels(img) -> np.ndarray:
    src = img.get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def script_errors(browser) -> list[str]:
    """Console errors other than the 4xx answers the tests provoke on purpose."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "status of 4" not in entry["message"]
    ]


def open_run(browser, server, name):
    browser.get(server.url)
    wait_for(browser, lambda: find(browser, f'#runs a[data-run="{name}"]')).click()
    wait_for(browser, lambda: find(browser, "main").get_attribute("data-run") == name)


def test_the_image_page_samples_walks_with_the_slider_and_reconstructs_an_upload(browser, server, tmp_path):
    open_run(browser, server, "vae")
    sample = find(browser, '[data-feature="sample"]')
    grid = find(sample, '[data-out="grid"]')
    wait_for(browser, lambda: grid.get_attribute("data-seed") == "0")
    seed = find(sample, 'input[name="seed"]')
    seed.clear()
    seed.send_keys("5", Keys.ENTER)
    wait_for(browser, lambda: grid.get_attribute("data-seed") == "5")
    assert pixels(grid).shape[0] == 6 * 18 + 2  # 36 samples of 16 px, the form's default

    walk = find(browser, '[data-feature="interpolate"]')
    middle = find(walk, '[data-out="image"]')
    wait_for(browser, lambda: middle.get_attribute("data-t") == "0.5")
    halfway = middle.get_attribute("src")
    slider = find(walk, 'input[type="range"]')
    drag_to_the_end(browser, slider, lambda: float(middle.get_attribute("data-t")) > 0.9)
    assert find(walk, '[data-out="t"]').text == f"t = {float(middle.get_attribute('data-t')):.2f} (slerp)"
    assert middle.get_attribute("src") != halfway

    panel = find(browser, '[data-feature="reconstruct"]')
    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    find(panel, 'input[type="file"]').send_keys(str(junk))
    error = find(panel, ".error")
    wait_for(browser, lambda: error.is_displayed() and "not an image genlab can read" in error.text)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    find(panel, 'input[type="file"]').send_keys(str(photo))
    wait_for(browser, lambda: len(panel.find_elements(By.CSS_SELECTOR, ".neighbours img")) == 8)
    assert not error.is_displayed()
    assert pixels(find(panel, '[data-out="reconstruction"]')).shape == (16, 16, 3)
    assert "MSE" in find(panel, '[data-out="mse"]').text
    assert script_errors(browser) == []


def test_a_conditional_run_is_asked_for_a_class_from_the_sample_form(browser, server):
    open_run(browser, server, "vae")
    assert not find(browser, '[data-feature="sample"] label.ask').is_displayed()  # not conditional
    open_run(browser, server, "diffusion")
    sample = find(browser, '[data-feature="sample"]')
    grid = find(sample, '[data-out="grid"]')
    wait_for(browser, lambda: grid.get_attribute("src"))
    ask = find(sample, 'input[name="ask"]')
    assert ask.is_displayed()
    ask.send_keys("1", Keys.ENTER)
    wait_for(browser, lambda: grid.get_attribute("alt") == "samples asked for 1")
    ask.clear()
    ask.send_keys("7", Keys.ENTER)
    error = find(sample, ".error")
    wait_for(browser, lambda: error.is_displayed() and "unknown label '7'" in error.text)
    assert not script_errors(browser)


def test_the_diffusion_page_slides_from_pure_noise_to_the_sample(browser, server):
    open_run(browser, server, "diffusion")
    panel = find(browser, '[data-feature="denoise"]')
    caption = find(panel, '[data-out="t"]')
    wait_for(browser, lambda: caption.text == "t = 1.00, step 0 of 3")
    state = find(panel, '[data-out="state"]')
    noise = pixels(state)
    slider = find(panel, 'input[type="range"]')
    drag_to_the_end(browser, slider, lambda: caption.text == "t = 0.00, step 3 of 3")
    assert np.array_equal(pixels(state), pixels(find(panel, '[data-out="guess"]')))  # done: guess = image
    assert not np.array_equal(pixels(state), noise)
    steps = find(panel, 'input[name="steps"]')
    steps.clear()
    steps.send_keys("5", Keys.ENTER)
    wait_for(browser, lambda: caption.text == "t = 1.00, step 0 of 5")
    panels = browser.find_elements(By.CSS_SELECTOR, "main .panel")
    assert [p.get_attribute("data-feature") for p in panels] == [
        "sample",
        "interpolate",
        "denoise",
        "reconstruct",
    ]
    assert script_errors(browser) == []


def draw(browser, canvas, strokes):
    """Draw each stroke, (x, y) points in pixels from the top-left corner, with the mouse."""
    half_w, half_h = canvas.size["width"] / 2, canvas.size["height"] / 2
    for points in strokes:
        (x, y), rest = points[0], points[1:]
        actions = ActionChains(browser, duration=20)  # ms per pointer move (default 250)
        actions.move_to_element_with_offset(canvas, int(x - half_w), int(y - half_h))
        actions.click_and_hold()
        for (x0, y0), (x1, y1) in zip(points, rest, strict=False):
            actions.move_by_offset(int(x1 - x0), int(y1 - y0))
        actions.release().perform()


# "12+7" written one character per 64 px cell, the last cell left empty
STROKES = [
    [(32, 8), (32, 56)],  # 1
    [(82, 18), (96, 8), (110, 18), (80, 56), (112, 56)],  # 2
    [(142, 32), (178, 32)],  # +
    [(160, 14), (160, 50)],
    [(208, 10), (240, 10), (220, 56)],  # 7
]


def test_the_arith_page_answers_a_typed_query_and_reads_a_drawn_one(browser, server):
    open_run(browser, server, "i2i")
    ask = find(browser, '[data-feature="ask"]')
    box = find(ask, 'input[name="q"]')
    assert box.get_attribute("placeholder") == "12+7"
    box.send_keys("12+7", Keys.ENTER)
    answer = wait_for(browser, lambda: find(ask, '[data-out="answer"]'))
    assert answer.text.startswith("12+7 = ") and ("right" in answer.text or "it is 19" in answer.text)
    assert len(ask.find_elements(By.CSS_SELECTOR, ".cells img")) == 5  # the query in unseen handwriting
    drawn = find(ask, '[data-out="answer-image"]')
    assert pixels(drawn).shape == (28, 84) and "reads it back as" in find(ask, ".result > figure").text

    box.clear()
    box.send_keys("12+", Keys.ENTER)
    error = find(ask, ".error")
    wait_for(browser, lambda: error.is_displayed() and "cannot read the query" in error.text)

    read = find(browser, '[data-feature="read"]')
    canvas = find(read, "canvas")
    assert canvas.get_attribute("width") == "320"  # five 64 px cells
    draw(browser, canvas, STROKES)
    find(read, 'button[name="answer"]').click()
    answer = wait_for(browser, lambda: find(read, '[data-out="answer"]'))
    assert " = " in answer.text
    cells = read.find_elements(By.CSS_SELECTOR, ".cells img")
    readings = [c.text for c in read.find_elements(By.CSS_SELECTOR, ".cells figcaption")]
    assert len(cells) == 5 and len(readings) == 5 and all(r == "blank" or len(r) == 1 for r in readings)
    ink = [pixels(cell).max() > 100 for cell in cells]  # white strokes on black, as MNIST writes
    assert sum(ink) >= 3  # the strokes reached the model (alignment may drop a cell read as blank)
    assert find(read, '[data-out="answer-image"]').is_displayed()

    find(read, 'button[name="clear"]').click()
    find(read, 'button[name="answer"]').click()
    error = find(read, ".error")
    wait_for(browser, lambda: error.is_displayed() and "nothing is written" in error.text)
    assert script_errors(browser) == []
