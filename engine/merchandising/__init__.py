"""The merchandisers' tools over a config: what-if figures, before/after previews, validated edits, export / import and history, and complete-the-look judged by the catalog's links."""
