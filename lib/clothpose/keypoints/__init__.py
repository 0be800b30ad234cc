"""Keypoint schemes (names, flip pairs, sigmas, skeletons, category layouts) as data."""
from .scheme import (BUILTIN, Category, KeypointScheme, SchemeError, get_scheme, load_scheme_file,
                     make_scheme, scheme_from_dict, subset_scheme)

__all__ = ["BUILTIN", "Category", "KeypointScheme", "SchemeError", "get_scheme", "load_scheme_file",
           "make_scheme", "scheme_from_dict", "subset_scheme"]
