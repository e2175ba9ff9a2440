"""Maps the repository's top-level folders onto the ``edgeimg`` package tree.

``runtime/`` is installed as ``edgeimg.runtime``, ``train/`` as ``edgeimg.train`` and so on;
the package root and the CLI live in ``src/edgeimg/`` (no folder at the repository root is
named ``edgeimg``, so the installed package is what ``import edgeimg`` finds from the root).
Every sub-folder with an ``__init__.py`` is picked up, for regular and editable installs.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "edgeimg": "src/edgeimg",
    "edgeimg.runtime": "runtime",
    "edgeimg.train": "train",
    "edgeimg.export": "export",
    "edgeimg.bench": "bench",
}

packages = []
package_dir = {}
for name, folder in FOLDERS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
