"""Small shared helpers: logging setup, atomic file writes, the tools' argument parser."""
