from iop_cli.cli import run

run()
