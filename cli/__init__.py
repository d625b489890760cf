"""The ``lorien`` command line; subcommands live one per module."""
