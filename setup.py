"""Package layout: `frontends/` and `backends/` install as `snnc.frontends` and `snnc.backends`.

Metadata lives in pyproject.toml; this file only maps the three source trees onto one
package namespace, which pyproject's static tables cannot do for nested trees.
"""
from setuptools import find_packages, setup

TREES = {"snnc": "snnc", "snnc.frontends": "frontends", "snnc.backends": "backends"}

packages, package_dir = [], {}
for name, path in TREES.items():
    package_dir[name] = path
    packages.append(name)
    for sub in find_packages(path):
        packages.append(f"{name}.{sub}")

setup(packages=packages, package_dir=package_dir)
