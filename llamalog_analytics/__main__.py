"""``python -m llamalog_analytics`` runs the ``llamalog`` command."""

from .cli import main

main()
