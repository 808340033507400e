"""Query methods, one module each: a ``METHOD`` declaration (read by ``fal.config.methods``) beside its ``query`` function."""
