"""View helpers shared by the console pages: the cached runtime, kept widget state, sidebar filters, product
tiles and grids, photos, formatting. Pages stay thin: they draw widgets and call the engine through these."""
