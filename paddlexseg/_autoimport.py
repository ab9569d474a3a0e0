"""Import every module of a package so that its registry decorators run."""
import importlib
import pkgutil


def import_submodules(package_name, package_path):
    """Import all modules and subpackages below ``package_path`` (names starting with '_' skipped)."""
    for info in pkgutil.iter_modules(package_path):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{package_name}.{info.name}")
