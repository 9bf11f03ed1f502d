"""The model zoo: built-in models and their knobs (`kiln models`)."""

from . import _kiln


def models():
    """One dict per model: name, summary and knobs (name, default, help,
    and min/max for an integer knob or choices for a choice knob)."""
    return _kiln.zoo_models()


def names():
    """The zoo's model names."""
    return [model["name"] for model in models()]


def knobs(name):
    """The knobs of model `name`."""
    for model in models():
        if model["name"] == name:
            return model["knobs"]
    raise KeyError(f"no zoo model '{name}' ({', '.join(names())})")
