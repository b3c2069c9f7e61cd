"""External tests: outside clients (GDAL's ogrinfo and ogr2ogr) against the live server of tests/conftest.py.
They fail, never skip, when a client is missing: `make setup` installs them."""
