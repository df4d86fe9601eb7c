"""Builders the tests share — images, datasets, bundles, shop contents, service and live-server helpers — in one place.

Shared fixtures live in tests/conftest.py, folder-specific ones in the folders' conftest.py files; test modules
import builders from here, never from another test module or a conftest.py.
"""
