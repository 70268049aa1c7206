"""mlnb in Jupyter: the ``%%autolog``, ``%load_model`` and ``%mlnb`` magics and the run browser.

``%load_ext mlnb`` registers the magics (:mod:`mlnb.notebook.magics`); ``mlnb.runs()`` opens the
run browser (:mod:`mlnb.notebook.browser`). IPython and ipywidgets are imported only here, never
by the rest of mlnb.
"""
