"""Headless Chromium against the live server: upload two files, find them in the grid,
copy a URL, delete one (§13)."""

import pytest

from media_library.models import MediaAsset
from media_library.tests.samples import files_under, image_bytes
from tests.browser import chromium
from tests.factories import MediaAssetFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(live_server, client, zr7_staff, monkeypatch):
    client.force_login(zr7_staff)
    session = client.cookies["sessionid"].value
    with chromium(monkeypatch) as browser:
        context = browser.new_context(base_url=live_server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()


def test_a_manager_uploads_two_images_copies_a_url_and_deletes_one(browser_page, live_server, media_root, settings):
    settings.MEDIA_PUBLIC_URL = f"{live_server.url}/media/"
    page = browser_page
    page.goto("/medias/televerser/")
    page.select_option("select[name=entity]", "ZR7")
    page.fill("input[name=tags]", "bannière")
    page.set_input_files(
        "input[type=file]",
        files=[
            {"name": "soleil.png", "mimeType": "image/png", "buffer": image_bytes("PNG", (64, 48))},
            {"name": "maison.jpg", "mimeType": "image/jpeg", "buffer": image_bytes("JPEG", (80, 60))},
        ],
    )
    page.wait_for_function("document.querySelectorAll('.upload-results li.success').length === 2")
    messages = page.locator(".upload-results li .message").all_inner_texts()
    assert any(m.startswith("« soleil.png » ajouté") for m in messages)
    assert any(m.startswith("« maison.jpg » ajouté") for m in messages)

    page.goto("/medias/")
    cards = page.locator(".media-card")
    assert cards.count() == 2
    # The thumbnails load from the public media URL.
    page.wait_for_function(
        "[...document.querySelectorAll('.media-card img')].every(i => i.complete && i.naturalWidth > 0)"
    )

    soleil = MediaAsset.objects.get(original_name="soleil.png")
    card = page.locator(f".media-card[data-asset-id='{soleil.pk}']")
    card.get_by_role("button", name="Copier l'URL").click()
    # Poll the clipboard (the button's "Copié ✓" only lasts a moment on a slow machine).
    copied = ""
    for _ in range(100):
        copied = page.evaluate("navigator.clipboard.readText()")
        if copied:
            break
        page.wait_for_timeout(50)
    assert copied == soleil.public_url

    card.locator("a.media-title").click()
    page.get_by_role("link", name="Supprimer…").click()
    page.get_by_role("button", name="Supprimer définitivement").click()
    page.wait_for_url("**/medias/")
    assert page.locator(".media-card").count() == 1
    assert "a été supprimé" in page.locator(".messages").inner_text()

    assert list(MediaAsset.objects.values_list("original_name", flat=True)) == ["maison.jpg"]
    assert not (media_root / soleil.file.name).exists()
    assert len(files_under(media_root)) == 2  # the remaining image and its thumbnail


CONTRAST = """el => {
    const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
        const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
}"""


def test_the_img_tag_to_paste_on_the_detail_page_is_readable(browser_page, live_server, settings):
    settings.MEDIA_PUBLIC_URL = f"{live_server.url}/media/"
    asset = MediaAssetFactory(entity="ZR7", title="Toiture", alt_text="Une toiture solaire")
    page = browser_page

    page.goto(f"/medias/{asset.pk}/")
    snippet = page.locator("pre", has_text="<img")

    assert snippet.inner_text().startswith(f'<img src="{asset.public_url}" alt="Une toiture solaire"')
    # WCAG AA: text at least 4.5 times brighter or darker than its background.
    assert snippet.evaluate(CONTRAST) >= 4.5
