"""``python -m mlnb``: the ``mlnb`` command."""

from mlnb.cli import main

if __name__ == "__main__":
    main(prog_name="mlnb")
