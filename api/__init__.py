"""gridmap's HTTP interface: the app factory, routers, parameters and error mapping. No domain logic."""
