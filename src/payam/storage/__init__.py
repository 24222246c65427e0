"""The schema, the database engine, migrations and small stores."""
