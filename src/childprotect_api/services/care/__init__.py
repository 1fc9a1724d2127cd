"""Care work for a child (DESIGN.md "Care work"): pairings (结对帮扶) with their contact log,
and cases (个案, 一人一案) with assessment, measures and timeline. Each write recomputes the
child's risk duties (services/duties) in the same transaction."""
