"""Database models, migrations, queries and the single store writer (SQLAlchemy)."""
