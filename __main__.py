"""Entry point for `pulumi up` run directly; `make up` runs the same program inline."""

from hearth.program import main

main()
