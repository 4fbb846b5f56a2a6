"""Maps: the public open-issues map, map data endpoints and (later) hotspot analysis."""
