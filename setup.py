"""The install-time build of the region-of-interest JPEG decoder; everything else is in pyproject.toml.

``simplepose/data/roi_jpeg.c`` becomes ``simplepose/data/libroijpeg.so``: a plain C library that
``simplepose.data.decode`` loads with ctypes (so no Python module init function and no ABI tag in its
name). It needs a C compiler and libjpeg-turbo's headers (Debian/Ubuntu: ``apt install gcc libjpeg-dev``;
macOS: ``brew install jpeg-turbo`` and ``CPPFLAGS=-I$(brew --prefix jpeg-turbo)/include
LDFLAGS=-L$(brew --prefix jpeg-turbo)/lib``). Without them the install goes on with a warning and JPEGs
are decoded whole: the same pixels, slower.
"""
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

FALLBACK = ("simplepose: the region-of-interest JPEG decoder (simplepose/data/roi_jpeg.c) was not built ({}); "
            "simplepose works without it and decodes whole JPEGs (the same pixels, slower). To build it, "
            "install a C compiler and libjpeg-turbo's headers (Debian/Ubuntu: libjpeg-dev) and install again.")


class BuildSharedLibrary(build_ext):
    """build_ext for C libraries loaded with ctypes: named ``NAME.so``, and a failed build only warns."""

    def get_ext_filename(self, fullname: str) -> str:
        return os.path.join(*fullname.split(".")) + ".so"   # the name decode.py loads

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return ext.export_symbols   # not a Python module: no PyInit_ function to export

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError) as exc:   # no compiler, no jpeglib.h, no -ljpeg
            self.warn(FALLBACK.format(" ".join(str(exc).split())))


setup(ext_modules=[Extension("simplepose.data.libroijpeg", ["simplepose/data/roi_jpeg.c"], libraries=["jpeg"],
                             extra_compile_args=["-O2", "-Wall"])],
      cmdclass={"build_ext": BuildSharedLibrary})
