"""``llamalog``: the command line, a thin layer over the library.

Each command parses its options, opens the store, calls one public function and prints the
result. Errors print one line to stderr and exit with status 2. The commands live by subject:
:mod:`.store` (load, info, synth, demo), :mod:`.entities` (chain, explain, graph, timeline) and
:mod:`.audit` (verify).
"""

from __future__ import annotations

import click

from .audit import verify_command
from .entities import chain_command, explain, graph, timeline
from .store import demo, info, load, synth


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llamalog_analytics")
def main() -> None:
    """Load, explore and audit the LlamaLog audit table (llama_logs)."""


for command in (load, info, synth, demo, verify_command, chain_command, explain, graph, timeline):
    main.add_command(command)
