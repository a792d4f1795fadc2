"""The lake: Parquet files partitioned by site and UTC day (a public contract, docs/lake.md)."""
