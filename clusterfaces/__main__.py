from clusterfaces.cli.main import run

run()
