"""The phone's offline sync: the changes feed and the batch push. Builds on every record domain."""
