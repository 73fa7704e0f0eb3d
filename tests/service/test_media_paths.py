"""PhotoRoot.relative: which catalog photo paths get a /media/ URL, and the path in it."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from engine.service.media import PhotoRoot
from engine.settings import Settings


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("media")
    (base / "cat").mkdir()
    (base / "link").symlink_to(base / "cat")
    return base, PhotoRoot(base / "link", Settings())  # the setting names a link; importers store resolved paths


@pytest.mark.parametrize("image, rel", [
    ("cat/a/b.jpg", "a/b.jpg"), ("link/a/b.jpg", "a/b.jpg"), ("cat//a/./b.jpg", "a/b.jpg"),
    ("cat/a/../b.jpg", "b.jpg"), ("cat/x y%.jpg", "x y%.jpg"),
    ("cat", None), ("cat/", None), ("cat-other/x.jpg", None), ("cat/../x.jpg", None), ("elsewhere/cat/x.jpg", None),
])
def test_paths_under_the_folder_and_only_those(roots, image, rel):
    base, root = roots
    assert root.relative(f"{base}/{image}") == rel


@pytest.mark.parametrize("image", ["", None, "https://cdn.example.com/a.jpg", "HTTP://x/a.jpg", "a/b.jpg"])
def test_urls_and_relative_names_have_no_path(roots, image):
    assert roots[1].relative(image) is None


@given(st.lists(st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1,
                        max_size=8).filter(lambda p: p not in (".", "..")), min_size=1, max_size=4))
def test_any_nested_photo_keeps_its_parts(roots, parts):
    base, root = roots
    assert root.relative(f"{base}/cat/" + "/".join(parts)) == "/".join(parts)
