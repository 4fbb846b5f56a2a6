"""Hotspot analysis for planners: DBSCAN clusters, H3 hexagons with Getis-Ord Gi*, trends, a KDE
heatmap, KPIs and their exports (see maps/README.md, "Planner dashboard")."""
