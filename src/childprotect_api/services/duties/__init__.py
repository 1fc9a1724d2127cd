"""Risk duties and alerts (DESIGN.md "Care work"): what an orange or red child must get,
computed in the transaction of the change that opens or meets it, and the alerts that reach
the county officers (and, for pairing, the township supervisor).

This package sits below every domain that changes a child (children, reports, care): they
call `duties.recompute` after their change; it reads only tables, never their services."""
