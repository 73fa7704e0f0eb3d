"""A catalog's `images` column is input from whoever wrote the file: it can name /etc/passwd, a device, a
FIFO, a `../` chain or a link out of the folder, and the indexer would open whatever got stored. So only
http(s) URLs and regular files under the media roots are stored; every other photo is a warning naming its
line and why, and the row still imports without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.catalog import Database, ImportReport, import_generic
from engine.catalog.importers.magento_reader import MagentoReader
from engine.catalog.media import confined, confinement, media_roots
from engine.catalog.models import Product
from engine.settings import Settings


@pytest.fixture()
def env(tmp_path: Path, monkeypatch) -> Path:
    """Catalog and data folders of the test's own, and no extra roots, so the roots are known exactly."""
    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VITRINA_CATALOG_DIR", str(tmp_path / "catalog"))
    monkeypatch.delenv("VITRINA_MEDIA_ROOTS", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "catalog").mkdir()
    return tmp_path


def _photos(db: Database) -> dict[str, list[str]]:
    with db.session() as s:
        return {p.sku: [im.path for im in p.images]
                for p in s.scalars(select(Product).options(selectinload(Product.images)))}


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 0, 0)).save(path)
    return path


def test_only_urls_and_regular_files_under_the_roots_are_stored(env: Path):
    feed = env / "feed"
    good = _image(feed / "good.jpg")
    outside = _image(env / "outside.jpg")
    (feed / "link.jpg").symlink_to(outside)
    os.mkfifo(feed / "pipe.jpg")
    rows = [("GOOD", "good.jpg"), ("PASSWD", "/etc/passwd"), ("UP", "../outside.jpg"), ("LINK", "link.jpg"),
            ("FIFO", "pipe.jpg"), ("ZERO", "/dev/zero"), ("HOME", "~/.bashrc"),
            ("URL", "https://cdn.example.com/x.jpg"), ("PROC", "/proc/self/environ"), ("ABS", str(good)),
            ("MIX", f"/etc/shadow|good.jpg|{outside}")]
    (feed / "products.csv").write_text("sku,title,price,images\n" + "".join(
        f"{sku},Item {sku},1,{images}\n" for sku, images in rows), encoding="utf-8")
    db = Database(f"sqlite:///{env / 'c.db'}")

    rep = import_generic(db, feed / "products.csv")

    assert rep.created == len(rows) and rep.rejected == []  # every row imports, photo or not
    stored = _photos(db)
    assert stored == {"GOOD": [str(good)], "PASSWD": [], "UP": [], "LINK": [], "FIFO": [], "ZERO": [], "HOME": [],
                      "URL": ["https://cdn.example.com/x.jpg"], "PROC": [], "ABS": [str(good)], "MIX": [str(good)]}
    roots = f"({feed.resolve()}, "
    expected = {
        3: "photo /etc/passwd is outside the media roots " + roots,
        4: "photo ../outside.jpg is outside the media roots " + roots,
        5: "photo link.jpg is outside the media roots " + roots,
        6: "photo pipe.jpg is not a regular file; not stored",
        7: "photo /dev/zero is outside the media roots " + roots,
        8: "photo ~/.bashrc names a home folder (~); not stored",
        10: "photo /proc/self/environ is outside the media roots " + roots,
        12: f"photo {outside} is outside the media roots " + roots,
    }
    assert len(rep.warnings) == len(expected) + 1, rep.warnings  # /etc/shadow: outside or absent, either way out
    for line, text in expected.items():
        assert any(w.startswith(f"products.csv:{line}: {text}") for w in rep.warnings), (line, rep.warnings)
    assert any(w.startswith("products.csv:12: photo /etc/shadow ") for w in rep.warnings)
    for w in rep.warnings:
        if "outside" in w:
            assert w.endswith("; not stored") and str(env / "data") in w and str(env / "catalog") in w


def test_an_extra_root_from_the_setting_makes_a_photo_there_acceptable(env: Path, monkeypatch):
    shared = _image(env / "shared-media" / "p.jpg")
    feed = env / "feed"
    feed.mkdir()
    (feed / "products.csv").write_text(f"sku,title,price,images\nP-1,Thing,1,{shared}\n", encoding="utf-8")

    db = Database(f"sqlite:///{env / 'a.db'}")
    rep = import_generic(db, feed / "products.csv")
    assert rep.created == 1 and _photos(db) == {"P-1": []}
    assert rep.warnings[0].startswith(f"products.csv:2: photo {shared} is outside the media roots")

    monkeypatch.setenv("VITRINA_MEDIA_ROOTS", f"{env / 'nowhere'}{os.pathsep}{env / 'shared-media'}{os.pathsep}")
    assert Settings().media_roots == (env / "nowhere", env / "shared-media")
    rep = import_generic(db, feed / "products.csv")
    assert rep.warnings == [] and _photos(db) == {"P-1": [str(shared)]}


def test_settings_passed_in_win_over_the_environment_and_the_data_folder_is_a_root(env: Path):
    """Browser uploads live in the data folder, so a photo there is acceptable by its absolute path, even from
    an upload that has no folder of its own."""
    upload = _image(env / "data" / "uploads" / "u.jpg")
    elsewhere = _image(env / "elsewhere" / "e.jpg")
    s = Settings()
    s.media_roots = (env / "elsewhere",)
    db = Database(f"sqlite:///{env / 'u.db'}")
    rep = import_generic(db, f"sku,title,price,images\nU-1,Up,1,{upload}|{elsewhere}|rel.jpg\n".encode(),
                         name="up.csv", settings=s)
    assert _photos(db) == {"U-1": [str(upload), str(elsewhere)]}
    assert rep.warnings == ["up.csv:2: relative photo path rel.jpg cannot be resolved for an upload without a "
                            "folder, skipped"]


def test_magento_photo_cells_cannot_climb_out_of_the_dataset(env: Path):
    dataset = env / "luma"
    media = dataset / "media" / "catalog" / "product"
    _image(media / "m" / "j" / "mj01.jpg")
    _image(env / "outside.jpg")
    (media / "m" / "j" / "out.jpg").symlink_to(env / "outside.jpg")
    report = ImportReport("magento")
    reader = MagentoReader(dataset / "fixtures", media, report, media_roots(Settings(), dataset))

    assert reader.image("/m/j/mj01.jpg", "p.csv", 2) == str((media / "m" / "j" / "mj01.jpg").resolve())
    for line, cell in enumerate(("/../../../../outside.jpg", "/m/j/out.jpg", "/../../../../../../../../etc/passwd",
                                 "/../../../../../../../../dev/zero"), start=3):
        assert reader.image(cell, "p.csv", line) is None
        assert report.warnings[-1].startswith(f"p.csv:{line}: photo {cell} is outside the media roots (")
    assert reader.image("/m/j/absent.jpg", "p.csv", 7) is None
    assert report.warnings[-1] == f"p.csv:7: photo /m/j/absent.jpg not found under {media}, skipped"


def test_confinement_names_why_a_path_is_refused(env: Path):
    roots = (env.resolve(),)
    (env / "loop").symlink_to(env / "loop")
    os.mkfifo(env / "fifo")
    assert confinement("a\x00b.jpg", roots) == "contains a NUL character"
    assert confinement("~/x.jpg", roots) == "names a home folder (~)"
    assert confinement(str(env / "absent.jpg"), roots) == "not found"
    assert confinement(str(env / "loop"), roots).startswith("cannot be resolved")
    assert confinement(str(env / "fifo"), roots) == "is not a regular file"
    assert confinement(str(env), roots) == "is not a regular file"
    assert confinement("/etc/passwd", roots).startswith("is outside the media roots")
    assert confined(str(_image(env / "ok.jpg")), roots) == (env / "ok.jpg").resolve()
    assert confined("/dev/zero", (Path("/dev"),)) is None  # a device is no photo even under a root
