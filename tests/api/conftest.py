"""API tests: the real app through FastAPI's test client (`client`, `demo_client`, `as_role` in
tests/conftest.py), each request in the test's rolled-back database session."""
