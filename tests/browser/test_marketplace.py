"""The marketplace in the Extensions section, in a real JupyterLab and
Chromium: search a registry, review the permissions in a dialog (cancel
installs nothing), install with progress, upgrade when the permissions
widen, roll back, uninstall."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit_helpers import make_extension, publish, publisher
from test_symphony_panel import open_lab, show_sidebar

from symphony_lab.kit import Kit
from symphony_lab.kit.home import add_registry, registry_keys
from symphony_lab.kit.registry import RegistryStore
from symphony_lab.kit.trust import Keyring, signature_path


def test_search_review_install_upgrade_roll_back_and_uninstall_from_the_sidebar(
    jupyter_server: Any, page: Any, browser_artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    home = jupyter_server.symphony_home
    keys = publisher(tmp_path)
    store = RegistryStore.create(tmp_path / "team", "team")
    store.accept_publisher(keys.public)
    add_registry(home, str(store.folder), store.folder / "registry.pub")
    Keyring().trust(registry_keys(home, store.public_key), keys.public)

    def release(version: str, network: bool) -> None:
        folder = make_extension(tmp_path, "greeter", version, network=network)
        package = publish(folder, tmp_path / "out", keys)
        store.publish(package.read_bytes(), signature_path(package).read_text())

    release("1.0.0", network=False)
    open_lab(page, jupyter_server, "symphony-marketplace")
    section = show_sidebar(page).locator("#symphony-extensions")
    section.locator(".symphony-market-search").fill("greeter")
    section.locator('[data-action="search"]').click()
    hit = section.locator('.symphony-market-hit[data-package="greeter"]')
    expect(hit).to_contain_text("greeter 1.0.0")
    expect(hit).to_contain_text("team")

    # The review comes first; cancelling it installs nothing.
    hit.locator('[data-action="install"]').click()
    dialog = page.locator(".jp-Dialog")
    change = dialog.locator('.symphony-review-change[data-package="greeter"]')
    expect(change).to_contain_text("greeter 1.0.0 (new)")
    expect(change).to_contain_text(f"signed by {keys.key_id}")
    expect(change.locator('[data-field="permissions"]')).to_contain_text("network: nothing")
    dialog.locator("button.jp-mod-reject").click()
    expect(section.locator(".symphony-message").first).to_contain_text("cancelled")
    assert Kit(home).installed() == {}

    hit.locator('[data-action="install"]').click()
    dialog.locator("button.jp-mod-accept").click()
    progress = section.locator(".symphony-market-progress")
    expect(progress).to_have_attribute("data-job-state", "done", timeout=30_000)
    expect(progress).to_contain_text("(5/5)")
    installed = section.locator('.symphony-extension[data-extension="greeter"]')
    expect(installed).to_contain_text("greeter 1.0.0")
    expect(installed).to_have_attribute("data-state", "not started")
    assert Kit(home).installed()["greeter"].version == "1.0.0"

    # A new release that asks for the network: the upgrade shows what is new.
    release("2.0.0", network=True)
    page.evaluate("() => window.jupyterapp.commands.execute('symphony:refresh-runs')")
    upgrade = installed.locator('[data-action="upgrade"]')
    expect(upgrade).to_contain_text("Upgrade to 2.0.0", timeout=15_000)
    upgrade.click()
    change = dialog.locator('.symphony-review-change[data-package="greeter"]')
    expect(change).to_have_attribute("data-widened", "yes")
    expect(change).to_contain_text("greeter 1.0.0 → 2.0.0")
    expect(change.locator('[data-field="permissions"]')).to_contain_text("network: read, write")
    dialog.screenshot(path=str(browser_artifacts / "marketplace-review.png"))
    dialog.locator("button.jp-mod-accept").click()
    expect(installed).to_contain_text("greeter 2.0.0", timeout=30_000)
    assert Kit(home).installed()["greeter"].version == "2.0.0"
    section.screenshot(path=str(browser_artifacts / "marketplace.png"))

    installed.locator('[data-action="rollback"]').click()
    expect(installed).to_contain_text("greeter 1.0.0", timeout=15_000)
    assert Kit(home).installed()["greeter"].version == "1.0.0"

    installed.locator('[data-action="uninstall"]').click()
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    expect(installed).to_have_count(0, timeout=15_000)
    assert Kit(home).installed() == {}
