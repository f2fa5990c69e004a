"""Regenerate the studio screenshots in docs/images/ (studio-*.png).

Runs the service with a slowed fake backend on loopback, drives Debian's chromium through the
main screens (create with live progress, gallery, one video, a storyboard generated and exported,
the phone layout) and saves a screenshot of each, plus the exported storyboard sheet.

    .venv/bin/python scripts/studio_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PROMPTS = [
    "a red ball bounces on the grass",
    "a yellow star falls at sunset",
    "a blue box moves left in the studio",
    "a white ball grows at night",
]


def main() -> int:
    from studio_browser import run_app_server, run_browser

    from cinegen.service.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    settings = Settings(data_dir=data, auth=False, backend="fake", backend_options={"delay": 2.5}, workers=2,
                        publish="trust")
    try:
        with run_app_server(settings) as url, run_browser() as browser:
            page = browser.page(1280, 860)

            def go(route: str) -> None:
                page.goto(f"{url}/studio/#{route}")
                page.wait_for_selector("body[data-ready='1']")

            def shot(name: str, full: bool = False) -> None:
                page.wait_for_function("[...document.querySelectorAll('main video')].every((v) => "
                                       "v.readyState === 4)",
                                       timeout=30_000)
                time.sleep(0.4)
                page.screenshot(path=str(out / f"studio-{name}.png"), full_page=full)
                print(out / f"studio-{name}.png")

            # 1. create: a few jobs, one caught mid-progress
            go("create")
            for i, prompt in enumerate(PROMPTS):
                page.fill("textarea[name=prompt]", prompt)
                page.fill("input[name=seconds]", "2")
                page.fill("input[name=seed]", str(11 + i))
                page.click("#create-form button[type=submit]")
                page.wait_for_selector(f".job >> nth={i}")
            page.wait_for_selector(".job [role=progressbar][aria-valuenow='100']", timeout=60_000)
            page.wait_for_function("[...document.querySelectorAll('.job [role=progressbar]')]"
                                   ".some((b) => +b.getAttribute('aria-valuenow') > 10 && "
                                   "+b.getAttribute('aria-valuenow') < 100)",
                                   timeout=60_000)
            page.fill("textarea[name=prompt]", "a green triangle moves right, the camera pans right")
            shot("create")
            page.wait_for_function("document.querySelectorAll('.job .badge.completed').length === 4",
                                   timeout=90_000)

            # 2. gallery, with one card scrubbed
            go("gallery")
            page.wait_for_function("document.querySelectorAll('.card "
                                   "a.thumb[style*=background-image]').length >= 4")
            box = page.locator(".card a.thumb").nth(1).bounding_box()
            page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
            page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
            shot("gallery")

            # 3. one video
            page.locator(".card a.thumb").first.click()
            page.wait_for_selector(".video-page video")
            page.wait_for_function("document.querySelector('[data-cc]').dataset.cc !== 'pending'",
                                   timeout=30_000)
            page.evaluate("(async () => { const v = document.querySelector('.video-page video'); v.muted = "
                          "true;"
                          " await v.play(); await new Promise((r) => setTimeout(r, 700)); v.pause(); })()")
            shot("video")

            # 4. a storyboard: three shots, generated, previewed and exported
            go("boards")
            page.click("text=New storyboard")
            page.wait_for_selector("#board-form")
            page.fill("input[name=title]", "Rolo's day out")
            page.fill("input[name=style]", "soft light, storybook colours")
            page.fill("input[name=seed]", "7")
            page.fill("textarea[name=characters]", "Rolo: a red ball")
            shots = [("Rolo moves right across the grass", "2", "pan_right", "cut"),
                     ("Rolo bounces at sunset", "2", "static", "dissolve"),
                     ("Rolo falls at night", "1", "zoom_in", "cut")]
            for i, (prompt, secs, cam, trans) in enumerate(shots, start=1):
                page.click("#add-shot")
                page.fill(f".shot:nth-child({i}) textarea[name=prompt]", prompt)
                page.fill(f".shot:nth-child({i}) input[name=seconds]", secs)
                page.select_option(f".shot:nth-child({i}) select[name=camera]", cam)
                if i > 1:
                    page.select_option(f".shot:nth-child({i}) select[name=transition]", trans)
            page.click("#generate-all")
            page.wait_for_function("[...document.querySelectorAll('.shot [role=progressbar]')]"
                                   ".some((b) => +b.getAttribute('aria-valuenow') >= 20)", timeout=60_000)
            shot("storyboard-generating", full=True)
            page.wait_for_function("document.querySelectorAll('.shot .badge.completed').length === 3",
                                   timeout=120_000)
            page.click("#export-board")
            page.wait_for_selector("#export-list button[data-export='otio']", timeout=60_000)
            page.click("#preview-reel")
            page.wait_for_selector("#reel-video[data-shot]")
            shot("storyboard", full=True)
            sheet = next(data.glob("studio/*/*/export/sheet.png"))
            shutil.copyfile(sheet, out / "studio-sheet.png")
            print(out / "studio-sheet.png")

            # 5. the phone layout
            phone = browser.page(390, 844)
            phone.goto(page.url)
            phone.wait_for_selector(".shot video")
            phone.wait_for_function("[...document.querySelectorAll('main video')].every((v) => v.readyState "
                                    "=== 4)")
            time.sleep(0.5)
            phone.screenshot(path=str(out / "studio-phone.png"))
            print(out / "studio-phone.png")
            if browser.console_errors:
                print("console errors:", browser.console_errors, file=sys.stderr)
                return 1
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
