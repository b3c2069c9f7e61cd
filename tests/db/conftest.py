"""Database tests: gis/ functions and the command line against a real PostgreSQL + PostGIS (fixtures `session`,
`demo_session`, `engine` in tests/conftest.py; every test rolled back)."""
