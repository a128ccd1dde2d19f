from clusterfaces.cli import run

run()
