"""The ``edgeimg`` command line: one thin module per subcommand."""
