"""transfer: lab-to-production transfer studies for weak-to-strong supervision."""

__version__ = "0.1.0"
