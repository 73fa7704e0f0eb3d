"""The catalog schema (SQLAlchemy 2). One Base for every table the engine keeps in SQL."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                        Index)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    path: Mapped[str] = mapped_column(String(1000), unique=True)  # "Men/Tops/Jackets": the natural key
    parent: Mapped["Category | None"] = relationship(remote_side="Category.id")


class Brand(Base):
    __tablename__ = "brands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)




class ProductCategory(Base):
    __tablename__ = "product_categories"
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # also the Qdrant point id
    sku: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float | None] = mapped_column(Float)  # for the margin factor, where the shop has it
    stock_qty: Mapped[int] = mapped_column(Integer, default=0)
    colour: Mapped[str | None] = mapped_column(String(64), index=True)  # lower-case English colour name
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    group_key: Mapped[str | None] = mapped_column(String(128), index=True)  # variants of one style share it
    language: Mapped[str | None] = mapped_column(String(8))  # ru / tr / en ...
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)  # primary leaf
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    views: Mapped[int] = mapped_column(Integer, default=0)
    sales: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(64))  # importer that made the row
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    brand: Mapped[Brand | None] = relationship()
    category: Mapped[Category | None] = relationship()
    images: Mapped[list["ProductImage"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductImage.position")
    categories: Mapped[list[Category]] = relationship(secondary="product_categories")

    @property
    def main_image(self) -> str | None:
        return self.images[0].path if self.images else None


class ProductImage(Base):
    __tablename__ = "product_images"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1000))  # absolute path or URL
    role: Mapped[str] = mapped_column(String(32), default="main")  # main / alt / back / other
    position: Mapped[int] = mapped_column(Integer, default=0)
    product: Mapped[Product] = relationship(back_populates="images")


class ProductLink(Base):
    __tablename__ = "product_links"
    __table_args__ = (UniqueConstraint("product_id", "linked_id", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    linked_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # upsell / related / crosssell


class MediaRoot(Base):
    """A folder an import took photos from. Recorded so that the console and the API, which re-check every
    photo before showing it, accept the photos of that import later — and nothing outside such folders."""

    __tablename__ = "media_roots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(2000), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VectorSync(Base):
    """Which encoders made a product's vectors and from what content: drives incremental indexing."""

    __tablename__ = "vector_sync"
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    text_encoder: Mapped[str] = mapped_column(String(200))
    image_encoder: Mapped[str | None] = mapped_column(String(200))  # None: no usable photo (text-only point)
    text_weight: Mapped[float] = mapped_column(Float)
    has_image: Mapped[bool] = mapped_column(Boolean, default=True)
    synced_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class IndexError_(Base):
    """Per-product indexing errors of the last run, kept so the console can show them."""

    __tablename__ = "index_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, index=True)
    sku: Mapped[str] = mapped_column(String(128))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


Index("ix_products_active_cat", Product.is_active, Product.category_id)
