"""`python -m engine <command>`: command groups, each command with --help and --json."""
