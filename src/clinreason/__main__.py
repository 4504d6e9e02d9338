"""`python -m clinreason` runs the command line."""

from clinreason.cli import main

main()
