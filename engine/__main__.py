"""`python -m engine <command>`: the exit code of the command is the process's (see engine.cli.main)."""
import sys

from engine.cli.main import main

sys.exit(main())
