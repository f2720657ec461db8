"""Images before they reach a reader: a missing one is an error (Markdown or raw `<img>`), one
without alt text a warning, a very large one a warning; the email gives each image its
`width` and `height`, read from the file's header and at most the 560 px column; the sizes
are kept in the build cache so an unchanged image is not opened again."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html
from PIL import Image

from publish.content import images as content_images
from publish.content.images import Size, email_size, read_size
from publish.model import ImageSize
from publish.outputs import images as output_images
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


def test_kept_sizes_spare_opening_an_unchanged_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = images_site(tmp_path, "A first paragraph.\n\n![Small](images/small.jpg)\n")
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    opened: list[Path] = []

    def counted(path: Path) -> Size:
        opened.append(path)
        return read_size(path)

    monkeypatch.setattr(content_images, "read_size", counted)
    (root / "essays/01-pictures.md").touch()  # the essay is read again, its image is not
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    assert opened == []  # header not read again
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


def test_an_img_without_alt_is_a_warning_where_the_body_has_no_markdown_image(
    tmp_path: Path,
) -> None:
    """The alt check looks for raw `<img>` by the body's `<`, not behind its `![`."""
    root = images_site(tmp_path, 'A first paragraph.\n\n<img src="images/wide.png">\n')
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert "essays/01-pictures.md:7:1: warning: <img> has no alt text" in result.output


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


# --- Images for every screen ------------------------------------------------------------

GPS_IFD, MAKE, MODEL, ORIENTATION_TAG, EXIF_IFD = 0x8825, 0x010F, 0x0110, 0x0112, 0x8769


def photo_with_gps(path: Path, width: int = 2000, height: int = 1000) -> Path:
    """A JPEG carrying a GPS position, the camera's make and model, and an orientation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[MAKE] = "Examplecam"
    exif[MODEL] = "X100"
    exif[ORIENTATION_TAG] = 1
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    exif.get_ifd(EXIF_IFD).update({0xA431: "SN-12345"})  # the body's serial number
    Image.new("RGB", (width, height), (90, 120, 160)).save(path, "JPEG", exif=exif)
    return path


def variants_site(tmp_path: Path, settings_extra: str = "") -> Path:
    """An essay whose lead image is a 2,000 px photo with GPS data and whose body shows it,
    a 1,200 px PNG, a 300 px JPEG and an SVG; its email is due."""
    body = (
        "A first paragraph.\n\n![The photo](images/photo.jpg)\n\n![A wide one](images/wide.png)"
        "\n\n![A small one](images/small.jpg)\n\n![A shape](images/shape.svg)\n"
    )
    root = images_site(tmp_path, body, image="images/photo.jpg", image_alt="Lead")
    photo_with_gps(root / "essays/images/photo.jpg")
    if settings_extra:
        settings = root / "publish.toml"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(text.replace("[site]\n", f"[site]\n{settings_extra}\n"), "utf-8")
    return root


def srcset_widths(source: html.HtmlElement) -> list[int]:
    """The widths a `<source>`'s srcset offers."""
    return [int(entry.rsplit(" ", 1)[1].rstrip("w")) for entry in source.get("srcset").split(", ")]


def test_each_raster_image_gets_a_picture_of_variants_up_to_its_own_width(tmp_path: Path) -> None:
    root = variants_site(tmp_path)
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    site = root / "build/site"
    page = html.parse(str(site / "pictures/index.html")).getroot()
    offered = {}
    for picture in page.iter("picture"):
        img = next(picture.iter("img"))  # (libxml2 nests it in the void <source>s)
        sources = {s.get("type"): s for s in picture.iter("source")}
        assert list(sources) == ["image/avif", "image/webp"]
        for kind, source in sources.items():
            for entry in source.get("srcset").split(", "):
                address, width = entry.rsplit(" ", 1)
                with Image.open(site / "pictures" / address) as variant:
                    assert f"image/{variant.format.lower()}" == kind
                    assert f"{variant.width}w" == width
                    scale = variant.width / int(img.get("width"))
                    assert variant.height == round(int(img.get("height")) * scale)
        offered[img.get("alt")] = (
            img.get("src"),
            img.get("width"),
            img.get("height"),
            srcset_widths(sources["image/webp"]),
        )
    assert offered == {
        "Lead": ("../images/photo.jpg", "2000", "1000", [480, 960, 1440]),
        "The photo": ("../images/photo.jpg", "2000", "1000", [480, 960, 1440]),
        "A wide one": ("../images/wide.png", "1200", "800", [480, 960, 1200]),
        "A small one": ("../images/small.jpg", "300", "200", [300]),
    }
    shape = next(i for i in page.iter("img") if i.get("alt") == "A shape")
    assert shape.getparent().tag == "p"  # an SVG fits every screen as it is
    card = page.xpath("//meta[@property='og:image']/@content")[0]
    assert card == "https://example.org/letters/images/photo.1200w.jpg"
    with Image.open(site / "images/photo.1200w.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (1200, 600))


def test_the_email_shows_one_copy_per_place_at_twice_the_column(tmp_path: Path) -> None:
    root = variants_site(tmp_path)
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    mail = html.parse(str(root / "build/email/pictures.html")).getroot()
    shown = {i.get("alt"): (i.get("src"), i.get("width")) for i in mail.iter("img")}
    base = "https://example.org/letters/images/"
    assert shown == {
        "Lead": (f"{base}photo.1120w.jpg", "560"),
        "The photo": (f"{base}photo.1120w.jpg", "560"),
        "A wide one": (f"{base}wide.1120w.png", "560"),
        "A small one": (f"{base}small.jpg", "300"),
        "A shape": (f"{base}shape.svg", "560"),
    }
    assert not list(mail.iter("picture")) and not list(mail.iter("source"))
    for name, kind in (("photo.1120w.jpg", "JPEG"), ("wide.1120w.png", "PNG")):
        with Image.open(root / "build/site/images" / name) as image:
            assert (image.format, image.width) == (kind, 1120)


def test_published_images_lose_their_place_and_camera(tmp_path: Path) -> None:
    root = variants_site(tmp_path)
    photo_with_gps(root / "essays/images/unshown.jpg", 400, 300)  # in no essay, still published
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    images = root / "build/site/images"
    shown = ("photo.jpg", "photo.1120w.jpg", "photo.1200w.jpg", "photo.960w.webp")
    for name in (*shown, "unshown.jpg"):
        with Image.open(images / name) as image:
            exif = image.getexif()
            assert not exif.get_ifd(GPS_IFD), name
            assert not exif.get_ifd(EXIF_IFD), name
            assert MAKE not in exif and MODEL not in exif, name
            assert b"Examplecam" not in (images / name).read_bytes()
    with Image.open(images / "photo.jpg") as image:
        assert image.getexif().get(ORIENTATION_TAG) == 1
        assert image.size == (2000, 1000)
    with Image.open(root / "essays/images/photo.jpg") as image:  # the author's file untouched
        assert image.getexif().get_ifd(GPS_IFD)


def test_a_setting_keeps_the_place_and_camera(tmp_path: Path) -> None:
    root = variants_site(tmp_path, "keep_image_metadata = true")
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    published = root / "build/site/images/photo.jpg"
    assert published.read_bytes() == (root / "essays/images/photo.jpg").read_bytes()
    with Image.open(root / "build/site/images/photo.1120w.jpg") as image:
        assert image.getexif().get_ifd(GPS_IFD)[1] == "N"
        assert image.getexif()[MAKE] == "Examplecam"


def test_a_rebuild_does_not_encode_the_images_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    encode = output_images.encode

    def counted(path: Path, digest: str, variant: output_images.Variant, keep: bool) -> bytes:
        encoded.append(variant.path)
        return encode(path, digest, variant, keep)

    monkeypatch.setattr(output_images, "encode", counted)
    root = variants_site(tmp_path)
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    assert len(encoded) == len(set(encoded)) > 10
    encoded.clear()
    (root / "essays/images/wide.png").touch()  # touched, not changed
    (root / "essays/01-pictures.md").write_text(
        (root / "essays/01-pictures.md").read_text().replace("first", "second"), "utf-8"
    )
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    assert encoded == []
    picture(root / "essays/images/small.jpg", 300, 200, "PNG")  # new content, same size
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    assert sorted(encoded) == ["images/small.300w.avif", "images/small.300w.webp"]


def test_check_says_when_pillow_cannot_write_avif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content_images, "avif_supported", lambda: False)
    monkeypatch.setattr(output_images, "avif_supported", lambda: False)
    root = variants_site(tmp_path)
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert "hint: this Pillow cannot write AVIF, so pages offer each image in WebP only" in (
        result.output
    )
    assert invoke(root, "build", "--today", TODAY).exit_code == 0
    page = html.parse(str(root / "build/site/pictures/index.html")).getroot()
    assert {s.get("type") for s in page.iter("source")} == {"image/webp"}
    assert not list((root / "build/site/images").glob("*.avif"))


@given(width=st.integers(1, 20_000), height=st.integers(1, 20_000))
def test_variants_grow_up_to_the_images_own_width(width: int, height: int) -> None:
    size = ImageSize("images/any.jpg", width, height)
    variants = output_images.screen_variants("images/any.jpg", size, ("WEBP",))
    widths = [v.width for v in variants]
    assert widths == sorted(set(widths))
    assert widths[-1] == min(width, 1440)
    assert all(w in (480, 960, 1440) for w in widths[:-1])
    assert all(v.height >= 1 for v in variants)
    assert len({v.path for v in variants}) == len(variants)


def test_check_makes_no_image_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    monkeypatch.setattr(output_images, "encode", lambda *args: made.append("variant"))
    monkeypatch.setattr(output_images, "without_metadata", lambda *args: made.append("clean"))
    root = variants_site(tmp_path)
    result = invoke(root, "check", "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert made == []  # nothing in them can fail a check: only a build makes them
    assert not (root / "build/site").exists()
