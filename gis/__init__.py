"""gridmap's domain: models, migrations, spatial algorithms and queries. No HTTP, no HTML."""
