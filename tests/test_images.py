"""Images before they reach a reader: a missing one is an error (Markdown or raw `<img>`), one
without alt text a warning, a very large one a warning; the email gives each image its
`width` and `height`, read from the file's header and at most the 560 px column; the sizes
are kept in the build cache so an unchanged image is not opened again."""

from __future__ import annotations

import email
import email.policy
import os
from pathlib import Path

from lxml import html
from PIL import Image

from publish.content.images import email_size, read_size
from publish.pipeline.load import load
from tests.sitebuilder import due_since_long_ago, essay_text, invoke, make_site

TODAY = "2026-12-01"


def picture(path: Path, width: int, height: int, kind: str = "PNG") -> Path:
    """Write a plain image file of the given size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (200, 180, 150)).save(path, kind)
    return path


def images_site(tmp_path: Path, body: str, **front: object) -> Path:
    """One dated essay with `body`, due (so its email is built), and three images beside it."""
    root = make_site(
        tmp_path / "site",
        essays={"01-pictures": essay_text("Pictures", body, date="2026-11-03", **front)},
    )
    picture(root / "essays/images/wide.png", 1200, 800)
    picture(root / "essays/images/small.jpg", 300, 200, "JPEG")
    (root / "essays/images/shape.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 300"></svg>', encoding="utf-8"
    )
    return due_since_long_ago(root)


def test_the_email_gives_each_image_its_width_and_height(tmp_path: Path) -> None:
    body = (
        "A first paragraph.\n\n![A wide one](images/wide.png)\n\n![A small one](images/small.jpg)"
        "\n\n![A shape](/images/shape.svg)\n"
    )
    root = images_site(tmp_path, body, image="images/wide.png", image_alt="Lead")
    result = invoke(root, "build", "--today", TODAY)
    assert result.exit_code == 0, result.output
    mail = html.parse(str(root / "build/email/pictures.html")).getroot()
    sizes = {img.get("alt"): (img.get("width"), img.get("height")) for img in mail.iter("img")}
    assert sizes == {
        "Lead": ("560", "373"),
        "A wide one": ("560", "373"),
        "A small one": ("300", "200"),
        "A shape": ("560", "187"),
    }
    message = email.message_from_bytes(
        (root / "build/email/pictures.eml").read_bytes(), policy=email.policy.default
    )
    part = html.fromstring(message.get_body(("html",)).get_content())
    assert {(i.get("width"), i.get("height")) for i in part.iter("img")} >= {("300", "200")}


def test_an_image_that_changes_size_changes_the_email(tmp_path: Path) -> None:
    root = images_site(tmp_path, "A first paragraph.\n\n![Small](images/small.jpg)\n")
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    assert (root / "build/.cache/images.json").is_file()
    picture(root / "essays/images/small.jpg", 400, 100, "JPEG")
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    mail = html.parse(str(root / "build/email/pictures.html")).getroot()
    img = next(i for i in mail.iter("img") if i.get("alt") == "Small")
    assert (img.get("width"), img.get("height")) == ("400", "100")


def test_kept_sizes_spare_opening_an_unchanged_image(tmp_path: Path) -> None:
    root = images_site(tmp_path, "A first paragraph.\n\n![Small](images/small.jpg)\n")
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    image = root / "essays/images/small.jpg"
    stamp = image.stat()
    image.write_bytes(b"not an image at all, same stamp kept")
    os.truncate(image, stamp.st_size)
    os.utime(image, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert image.stat().st_ino == stamp.st_ino
    assert invoke(root, "build", "--today", TODAY).exit_code == 0  # header not read again
    mail = html.parse(str(root / "build/email/pictures.html")).getroot()
    img = next(i for i in mail.iter("img") if i.get("alt") == "Small")
    assert (img.get("width"), img.get("height")) == ("300", "200")


def test_a_missing_raw_html_image_is_an_error_at_its_place(tmp_path: Path) -> None:
    body = 'A first paragraph.\n\n<p>An <img src="images/gone.png" alt="Gone"> inside.</p>\n'
    root = images_site(tmp_path, body)
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 1
    assert (
        "essays/01-pictures.md:7:17: error: image 'images/gone.png' is not a file under essays/"
        in result.output
    )
    assert "Traceback" not in result.output


def test_a_missing_inline_or_lead_image_is_an_error(tmp_path: Path) -> None:
    body = "A first paragraph.\n\n![Nothing here](images/none.png)\n"
    root = images_site(tmp_path, body, image="images/lead.png", image_alt="Lead")
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 1
    assert "essays/01-pictures.md:4:8: error: image 'images/lead.png'" in result.output
    assert "essays/01-pictures.md:9:17: error: image 'images/none.png'" in result.output


def test_images_without_alt_text_are_warnings(tmp_path: Path) -> None:
    body = (
        "A first paragraph.\n\n![](images/small.jpg)\n\n"
        '<img src="images/wide.png">\n\n<img src="images/wide.png" alt="">\n'
    )
    root = images_site(tmp_path, body)
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    essay_warnings = [
        line.split(": warning: ")[0]
        for line in result.output.splitlines()
        if line.startswith("essays/") and "alt text" in line
    ]
    assert essay_warnings == ["essays/01-pictures.md:7:1", "essays/01-pictures.md:9:1"]


def test_a_very_large_image_is_a_warning(tmp_path: Path) -> None:
    root = images_site(tmp_path, "A first paragraph.\n\n![Huge](images/huge.png)\n")
    picture(root / "essays/images/huge.png", 3200, 100)
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert any(
        line.startswith("essays/01-pictures.md:7:9: warning: image 'images/huge.png' is ")
        and "3200×100 px" in line
        for line in result.output.splitlines()
    ), result.output


def test_an_essay_names_each_image_and_link_with_its_place_and_each_image_size(
    tmp_path: Path,
) -> None:
    body = "A first paragraph with [a link](https://example.org/x).\n\n![Wide](images/wide.png)\n"
    root = images_site(tmp_path, body, image="images/small.jpg", image_alt="Lead")
    cold_site = load(root).site
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    warm_site = load(root).site  # the parse read back from the cache this time
    lines = (root / "essays/01-pictures.md").read_text(encoding="utf-8").splitlines()
    line_of = {text: number for number, line in enumerate(lines, 1) for text in [line]}
    for site in (cold_site, warm_site):
        [essay] = site.essays
        lead, wide = essay.images
        assert lead.text == "images/small.jpg" and "image:" in lines[lead.line - 1]
        assert (wide.text, wide.line, wide.col) == (
            "images/wide.png",
            line_of["![Wide](images/wide.png)"],
            len("![Wide](") + 1,
        )
        [link] = essay.links
        assert (link.text, link.col) == (
            "https://example.org/x",
            len("A first paragraph with [a link](") + 1,
        )
        assert lines[link.line - 1].startswith("A first paragraph")
        sizes = {size.src: (size.width, size.height) for size in essay.image_sizes}
        assert sizes == {"images/small.jpg": (300, 200), "images/wide.png": (1200, 800)}


def test_an_image_file_is_read_as_its_width_and_height(tmp_path: Path) -> None:
    turned = picture(tmp_path / "wide.png", 1200, 800)
    assert read_size(turned).width == 1200 and read_size(turned).height == 800
    assert email_size(*read_size(turned)) == (560, 373)
    assert read_size(tmp_path / "missing.png") == (0, 0)
