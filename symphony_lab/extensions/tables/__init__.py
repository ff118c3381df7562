"""The shipped `tables` extension: CSV/Parquet tables stored as Parquet artifacts; filter with
pandas queries, aggregate by groups."""
