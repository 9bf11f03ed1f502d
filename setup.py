"""Packs the extension and tuning worker CMake built into the `kiln`
package: the build directory is $KILN_BUILD_DIR, else ./build (as
scripts/setup.sh makes it). Nothing is compiled here."""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(HERE, "build"))


class BuildWithExtension(build_py):
    """build_py, then the prebuilt extension and worker beside the
    package's modules."""

    def run(self):
        super().run()
        extensions = glob.glob(os.path.join(BUILD, "python", "_kiln*.so"))
        worker = os.path.join(BUILD, "bin", "kiln-tune-worker")
        if len(extensions) != 1 or not os.path.exists(worker):
            raise SystemExit(f"no Kiln build in {BUILD}: run scripts/setup.sh "
                             "first (it builds the extension, then installs "
                             "the package)")
        target = os.path.join(self.build_lib, "kiln")
        for path in extensions + [worker]:
            shutil.copy2(path, target)


class BinaryDistribution(Distribution):
    """A platform wheel: the package holds a compiled extension."""

    def has_ext_modules(self):
        return True


# setuptools' scratch space goes inside the CMake build, not over it.
setup(cmdclass={"build_py": BuildWithExtension},
      distclass=BinaryDistribution,
      options={"build": {"build_base": os.path.join(BUILD, "python-package")}})
