"""Subcommands of the ``onexn`` command line tool."""
