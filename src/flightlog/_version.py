__version__ = "0.1.0"
"""The version of the installed flightlog (also recorded with every run)."""
