"""Visual search: a photo in (upload or camera), the visually closest products out."""
import streamlit as st

from console.errors import attempt
from console.filters import sidebar_filters
from console.grid import result_grid
from console.photos import Photo
from console.draft import get_recommender
from console.runtime import get_runtime
from console.state import remember, value
from engine.photos.confidence import LOOSE

PHOTO = "visual_photo"  # the last photo given, kept across page switches (uploads cannot be restored)

rt = get_runtime()
st.title("Visual search", anchor=False)
choice = sidebar_filters(rt)


def took(key: str) -> None:
    remember(PHOTO, Photo.of(st.session_state.get(key)))


upload, camera = st.tabs(["Upload a photo", "Take a photo"])
with upload:
    st.file_uploader("Photo of a product (JPEG, PNG, WebP, GIF)", key="upload", on_change=took, args=("upload",),
                     max_upload_size=max(1, rt.settings.max_upload_bytes // (1024 * 1024)))
with camera:
    st.camera_input("Point the camera at a product", key="camera", on_change=took, args=("camera",))

photo: Photo | None = value(PHOTO)
if photo is None:
    st.info("Upload a photo or take one: the products that look most alike will appear here.")
else:
    found = attempt(get_recommender().search_by_photo, photo.data, n=choice.n, filters=choice.filters(),
                    strategy=choice.strategy)
    if found is not None:  # the engine accepted the photo, so it can be shown
        shown, results = st.columns([1, 4])
        with shown:
            st.image(photo.data, caption=photo.name, width="stretch")
        with results:
            if found.match == LOOSE and found.items:
                st.warning("No good match: nothing in the catalog looks like this photo's product. "
                           "The products below are only loosely related.")
            result_grid(found.items, key="grid-visual", per_row=4, empty="Nothing looks alike within these filters.")
