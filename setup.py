"""Packages are found, not listed: every package under hub_core/ and every plugin folder under plugins/."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["hub_core", "hub_core.*"])
    + ["hub_plugins"]
    + [f"hub_plugins.{name}" for name in find_packages("plugins")],
)
