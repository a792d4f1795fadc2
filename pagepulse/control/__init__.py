"""The control plane: users, sites, salts and sessions in SQLite (standard library).

Events never go here; they live in the Parquet lake (``pagepulse.lake``).
"""
