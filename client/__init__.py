"""The client side of a detection node: finding images, sending them (one HTTP client for
/api/detect), spreading them over nodes, the local edge baseline, and the per-image record log."""
