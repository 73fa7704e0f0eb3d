"""Signed, expiring links that show the shared draft in the demo shop.

The public shop shows the live config; a merchandiser previewing the draft "as a shopper" opens a link the
console made, carrying a token `draft.<expiry>.<HMAC-SHA256>` — anyone without the secret can neither make
one nor stretch its expiry. The secret is VITRINA_PREVIEW_SECRET, or else a random one generated once into
the data folder (`preview.key`, readable by its owner only), so the console and the service of one data
location agree without any setup."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from urllib.parse import quote

from engine.errors import ValidationError
from engine.settings import Settings

PREVIEW_SECONDS = 3600  # how long a preview link works
KEY_FILE = "preview.key"
SCOPE = "draft"


def secret(settings: Settings) -> bytes:
    """The signing secret: the setting, else the data folder's key (made on first use, atomically)."""
    if settings.preview_secret:
        return settings.preview_secret.encode("utf-8")
    path = settings.data_dir / KEY_FILE
    try:
        key = path.read_bytes().strip()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first (or a short one is there: name it)
        key = path.read_bytes().strip()
        if len(key) < 32:
            raise ValidationError(f"{path} holds no usable preview key: delete it, or set VITRINA_PREVIEW_SECRET")
        return key
    with os.fdopen(fd, "wb") as f:
        f.write(fresh)
    return fresh


def _mac(settings: Settings, body: str) -> str:
    return hmac.new(secret(settings), body.encode("ascii"), hashlib.sha256).hexdigest()


def sign(settings: Settings, seconds: int = PREVIEW_SECONDS, now: float | None = None) -> str:
    """A token letting its holder see the draft for `seconds`."""
    body = f"{SCOPE}.{int(now if now is not None else time.time()) + int(seconds)}"
    return f"{body}.{_mac(settings, body)}"


def verify(settings: Settings, token: str, now: float | None = None) -> None:
    """Nothing for a valid token; ValidationError saying why otherwise (forged, altered or expired)."""
    parts = token.split(".") if isinstance(token, str) and len(token) <= 200 else []
    if len(parts) != 3 or parts[0] != SCOPE or not parts[1].isdigit():
        raise ValidationError("the preview link is not valid: open it again from the console")
    if not hmac.compare_digest(_mac(settings, f"{parts[0]}.{parts[1]}"), parts[2]):
        raise ValidationError("the preview link is not valid: open it again from the console")
    if int(parts[1]) < (now if now is not None else time.time()):
        raise ValidationError("the preview link has expired: open it again from the console")


def shop_links(settings: Settings, service_url: str, sku: str) -> tuple[str, str]:
    """The demo shop's page of a product as the public sees it (the live config), and the same page showing
    the shared draft through a fresh preview token: the console's "see it as a shopper" links."""
    page = f"{service_url.rstrip('/')}/shop/product/{quote(sku, safe='')}"
    return page, f"{page}?preview={sign(settings)}"
