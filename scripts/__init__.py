"""Entry points people type: `python scripts/NAME.py ...` or `python -m scripts.NAME ...` (each parses its
arguments and calls library code in client/, reporting/ and detector/)."""
