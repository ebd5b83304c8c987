"""The input tables: the catalogue and the request tables, their conversion from MMRec's layout, and synthetic stand-ins."""
