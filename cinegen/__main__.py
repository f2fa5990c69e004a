"""`python -m cinegen` runs the CLI (same as the `cinegen` console script)."""


from cinegen.cli import entry

entry()
