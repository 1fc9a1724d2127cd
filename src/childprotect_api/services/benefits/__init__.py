"""Category decisions (认定), removals (减员) and benefit payments (发放): DESIGN.md "Care work"."""
