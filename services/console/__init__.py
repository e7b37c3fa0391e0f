"""The web console: server-rendered pages over the services' REST APIs (French first; holds no data)."""
