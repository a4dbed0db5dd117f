"""Everything that talks to PostgreSQL: connect, read the catalog, build and run DDL."""
