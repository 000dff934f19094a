"""Sphinx configuration for the dnaestim documentation.

Builds offline: nothing here fetches anything over the network (no intersphinx inventories, no remote
theme assets, no version switcher).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Document the working tree, even when an older dnaestim is installed elsewhere.
sys.path.insert(0, str(ROOT))

import dnaestim  # noqa: E402

# -- Project ---------------------------------------------------------------------------------------------------

project = "dnaestim"
author = "dnaestim developers"
copyright = "dnaestim developers"
release = dnaestim.__version__
version = ".".join(release.split(".")[:2])

# -- General ---------------------------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sg_execution_times.rst"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc --------------------------------------------------------------------------

autosummary_generate = True  # stubs go to docs/generated/ (the :toctree: of api.rst), which git ignores
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # types are written in the numpydoc sections
autoclass_content = "class"

numpydoc_show_class_members = False  # members come from the autosummary class template, once
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Validate docstrings during the build (each failure is a warning, so -W makes it an error). Excluded: checks the
# current public docstrings do not meet -- extended summaries (ES01), examples (EX01) and See Also (SA01)
# everywhere, every parameter documented (PR01: HyenaConfig.extra, HyenaLM's generator, ...), a Returns section
# with a description on every function (RT01, RT03), and infinitive summaries (SS05).
numpydoc_validation_checks = {"all", "ES01", "EX01", "SA01", "PR01", "RT01", "RT03", "SS05"}


def _skip_generated_members(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_<method>_request`` methods (metadata routing).

    scikit-learn adds them to every estimator class whose ``fit``/``score``/... take extra arguments (here
    ``sample_weight``). Their docstrings are scikit-learn's, with cross-references into scikit-learn's own
    documentation that cannot resolve in this offline build, so documenting them would only add warnings.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_members)

# -- intersphinx: deliberately empty, the build machine is offline ---------------------------------------------

intersphinx_mapping: dict = {}
intersphinx_disabled_reftypes = ["*"]

# -- sphinx-gallery --------------------------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # execute every plot_*.py
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "reference_url": {},
    "min_reported_time": 1,
    "write_computation_times": False,
}

# -- HTML ------------------------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"dnaestim {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "icon_links": [],
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_static_path: list = []
