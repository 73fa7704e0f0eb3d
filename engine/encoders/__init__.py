"""Text and image encoders behind two protocols; `make_text_encoder` / `make_image_encoder` build them from
settings. Heavy libraries (torch, open_clip, sentence-transformers) load only when such an encoder is made."""
from .base import ImageEncoder, TextEncoder
from .clip import ClipImageEncoder
from .descriptor import DescriptorImageEncoder
from .factory import clear_encoder_cache, make_image_encoder, make_text_encoder
from .sentence import SentenceTransformerTextEncoder
from .use import UseTextEncoder

__all__ = [
    "TextEncoder", "ImageEncoder",
    "UseTextEncoder", "SentenceTransformerTextEncoder", "ClipImageEncoder", "DescriptorImageEncoder",
    "make_text_encoder", "make_image_encoder", "clear_encoder_cache",
]
