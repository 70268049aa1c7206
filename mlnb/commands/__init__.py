"""The ``mlnb`` command's groups beyond ``models serve|predict``, with MLflow's names and flags.

``mlnb runs``, ``mlnb experiments`` and ``mlnb artifacts`` work on the tracking store named by
``MLFLOW_TRACKING_URI`` / ``MLNB_TRACKING_URI`` (as ``mlnb.get_tracking_uri()`` reports it), through
the public client only. Each group is a module of its own; ``mlnb/cli.py`` adds them to ``main``.
"""
