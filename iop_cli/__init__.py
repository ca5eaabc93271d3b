"""iop-cli: place people in the right level of addiction and behavioral-health care."""

__version__ = "0.1.0"
