"""Text and image encoders behind two protocols; `make_text_encoder` / `make_image_encoder` build them from
settings. Heavy libraries (torch, open_clip, sentence-transformers) load only when such an encoder is made."""
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.encoders.clip import ClipImageEncoder
from engine.encoders.descriptor import DescriptorImageEncoder
from engine.encoders.factory import clear_encoder_cache, make_image_encoder, make_text_encoder, warm_text_encoder
from engine.encoders.sentence import SentenceTransformerTextEncoder
from engine.encoders.use import UseTextEncoder

__all__ = [
    "TextEncoder", "ImageEncoder",
    "UseTextEncoder", "SentenceTransformerTextEncoder", "ClipImageEncoder", "DescriptorImageEncoder",
    "make_text_encoder", "make_image_encoder", "clear_encoder_cache", "warm_text_encoder",
]
