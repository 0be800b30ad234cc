"""yacs configuration: the schema (``defaults``) and the loader."""
from .defaults import get_cfg
from .loader import DATASET_SCHEMES, ConfigError, check_paths, load_config, validate

__all__ = ["get_cfg", "load_config", "validate", "check_paths", "ConfigError", "DATASET_SCHEMES"]
