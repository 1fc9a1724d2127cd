"""Statistics for the 自查自评 self-assessment: figures, their queries and rollups, county
snapshots, small-figure suppression for auditors, and the export."""
