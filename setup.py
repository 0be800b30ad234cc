"""Build hook for the Cython extensions; metadata lives in pyproject.toml."""
from pathlib import Path

from setuptools import Extension, setup


def extensions() -> list:
    sources = sorted(Path("lib/clothpose").rglob("*.pyx"))
    if not sources:
        return []
    import numpy
    from Cython.Build import cythonize

    exts = [Extension(".".join(p.relative_to("lib").with_suffix("").parts), [str(p)],
                      include_dirs=[numpy.get_include()],
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
            for p in sources]
    return cythonize(exts, language_level=3, quiet=True)


setup(ext_modules=extensions())
