"""Backend memory monitor: local and remote sources, history and thresholds, headless."""
