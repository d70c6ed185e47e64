"""PostgreSQL inspection for Fibuca's Prisma database: pooled read-only session, health overview,
slow queries, plans, an index advisor verified by the planner, and safe concurrent index builds.
Pure Python (no Qt): the Database panel and ``fibuca-desktop db`` share it."""
