"""Settings: ``digest.toml`` read into one typed object, checked once at start-up."""
