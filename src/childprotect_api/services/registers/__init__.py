"""Registers (台账): record-level exports of one kind of record in an area, in Chinese column
order, as XLSX or CSV, streamed (DESIGN.md "Care work", README "Registers")."""
