"""`clusterfaces review`: a local web app to look at people and name them, on the public Library API."""
