"""HTTP layer: the Litestar app, control-plane controllers and the data-plane gateway."""
