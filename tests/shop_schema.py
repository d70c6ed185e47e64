"""Fibuca's shop as Prisma creates it on PostgreSQL, filled with 250k rows, and a Prisma workload.

Prisma names tables after models in quoted PascalCase, uses text ids, camelCase foreign-key
columns and creates no index on them. ``ProductPage`` is the wide one: a ~2.9 KB description
(random hex, so TOAST keeps it out of line uncompressed) and a ~0.7 KB JSON spec sheet, read by
a ``findMany`` without ``select`` and by a focused query. ``Audit "Log"`` has a quote and a
space in its name and ``actor"Id`` in a column, so quoting is tested on real identifiers.
"""

from __future__ import annotations

import contextlib
import random

import psycopg2

ROWS = {
    "Category": 20,
    "Tag": 50,
    "User": 20_000,
    "Product": 12_000,
    "Order": 60_000,
    "OrderItem": 150_000,
    'Audit "Log"': 12_000,
    "ProductPage": 4_000,  # under the advisor's 10,000 rows: it never asks for an index here
}

DDL = '''
CREATE TABLE "Category" ("id" TEXT NOT NULL, "name" TEXT NOT NULL,
    CONSTRAINT "Category_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Tag" ("id" TEXT NOT NULL, "categoryId" TEXT NOT NULL, "label" TEXT NOT NULL,
    CONSTRAINT "Tag_pkey" PRIMARY KEY ("id"));
CREATE TABLE "User" ("id" TEXT NOT NULL, "email" TEXT NOT NULL, "name" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "Product" ("id" TEXT NOT NULL, "sku" TEXT NOT NULL, "name" TEXT NOT NULL,
    "price" DECIMAL(10,2) NOT NULL, "categoryId" TEXT NOT NULL, "createdAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "Product_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "Product_sku_key" ON "Product"("sku");
CREATE TABLE "Order" ("id" TEXT NOT NULL, "userId" TEXT NOT NULL, "status" TEXT NOT NULL,
    "total" DECIMAL(10,2) NOT NULL, "createdAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "Order_pkey" PRIMARY KEY ("id"));
CREATE TABLE "OrderItem" ("id" TEXT NOT NULL, "orderId" TEXT NOT NULL, "productId" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL, "price" DECIMAL(10,2) NOT NULL,
    CONSTRAINT "OrderItem_pkey" PRIMARY KEY ("id"));
CREATE TABLE "ProductPage" ("id" TEXT NOT NULL, "productId" TEXT NOT NULL,
    "title" TEXT NOT NULL, "description" TEXT NOT NULL, "specs" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL, CONSTRAINT "ProductPage_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "ProductPage_productId_key" ON "ProductPage"("productId");
CREATE TABLE "Audit ""Log""" ("id" TEXT NOT NULL, "actor""Id" TEXT NOT NULL, "note" TEXT NOT NULL,
    CONSTRAINT "Audit ""Log""_pkey" PRIMARY KEY ("id"));
ALTER TABLE "Tag" ADD CONSTRAINT "Tag_categoryId_fkey" FOREIGN KEY ("categoryId")
    REFERENCES "Category"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Product" ADD CONSTRAINT "Product_categoryId_fkey" FOREIGN KEY ("categoryId")
    REFERENCES "Category"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Order" ADD CONSTRAINT "Order_userId_fkey" FOREIGN KEY ("userId")
    REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "OrderItem" ADD CONSTRAINT "OrderItem_orderId_fkey" FOREIGN KEY ("orderId")
    REFERENCES "Order"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "OrderItem" ADD CONSTRAINT "OrderItem_productId_fkey" FOREIGN KEY ("productId")
    REFERENCES "Product"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Audit ""Log""" ADD CONSTRAINT "Audit ""Log""_actor""Id_fkey" FOREIGN KEY ("actor""Id")
    REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
'''

FILL = '''
INSERT INTO "Category" SELECT 'c' || g, 'Category ' || g FROM generate_series(1, 20) g;
INSERT INTO "Tag" SELECT 't' || g, 'c' || (1 + g % 10), 'tag ' || g FROM generate_series(1, 50) g;
INSERT INTO "User" SELECT 'u' || g, 'user' || g || '@example.com', 'User ' || g,
    timestamp '2024-01-01' + g * interval '20 minutes' FROM generate_series(1, 20000) g;
INSERT INTO "Product" SELECT 'p' || g, 'SKU-' || g, 'Product ' || g, (g % 500) + 0.99,
    'c' || (1 + g % 10), timestamp '2024-01-01' + g * interval '30 minutes'
    FROM generate_series(1, 12000) g;
INSERT INTO "Order" SELECT 'o' || g, 'u' || (1 + (g::bigint * 7919) % 20000),
    (ARRAY['PENDING', 'PAID', 'SHIPPED', 'DELIVERED'])[1 + g % 4], (g % 300) + 9.5,
    timestamp '2024-01-01' + g * interval '7 minutes' FROM generate_series(1, 60000) g;
INSERT INTO "OrderItem" SELECT 'i' || g, 'o' || (1 + (g::bigint * 104729) % 60000),
    'p' || (1 + (g * 31) % 12000), 1 + g % 5, (g % 500) + 0.99 FROM generate_series(1, 150000) g;
INSERT INTO "ProductPage" SELECT 'pp' || g, 'p' || g, 'Product ' || g || ' page',
    (SELECT string_agg(md5(g::text || '-' || x), '') FROM generate_series(1, 90) x),
    jsonb_build_object('weightGrams', g % 900, 'colour', 'red', 'dimensionsMm',
        jsonb_build_array(g % 40, g % 50, g % 60), 'materials', jsonb_build_array(md5(g::text),
        md5((g + 1)::text), md5((g + 2)::text)), 'care', repeat('hand wash cold ', 24),
        'notes', md5((g + 3)::text) || md5((g + 4)::text) || md5((g + 5)::text)),
    timestamp '2024-01-01' + g * interval '90 minutes' FROM generate_series(1, 4000) g;
INSERT INTO "Audit ""Log""" SELECT 'a' || g, 'u' || (1 + g % 20000), 'note ' || g
    FROM generate_series(1, 12000) g;
'''


def load_shop(admin) -> None:
    """Create and fill the shop as the test role (it owns every table), then VACUUM ANALYZE."""
    with admin.cursor() as cur:
        cur.execute("SET ROLE fibuca")
        cur.execute(DDL)
        cur.execute(FILL)
        cur.execute("VACUUM ANALYZE")
        cur.execute("RESET ROLE")


def order_columns() -> str:
    return ", ".join(
        f'"public"."Order"."{c}"' for c in ("id", "userId", "status", "total", "createdAt")
    )


# Prisma-shaped queries: what `findMany`, `findUnique` and `include` send. Literals are bound
# client-side; pg_stat_statements normalises them back to $1, $2, ...
ORDERS_OF_USER = (
    f'SELECT {order_columns()} FROM "public"."Order" WHERE "public"."Order"."userId" = %s '
    'ORDER BY "public"."Order"."createdAt" DESC LIMIT %s OFFSET %s'
)
ITEMS_OF_ORDER = (
    'SELECT "public"."OrderItem"."id", "public"."OrderItem"."orderId", '
    '"public"."OrderItem"."productId", "public"."OrderItem"."quantity", '
    '"public"."OrderItem"."price" FROM "public"."OrderItem" '
    'WHERE "public"."OrderItem"."orderId" IN (%s) OFFSET %s'
)
ORDERS_BY_STATUS = (
    f'SELECT {order_columns()} FROM "public"."Order" WHERE "public"."Order"."status" = %s OFFSET %s'
)
USER_BY_ID = (
    'SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name" '
    'FROM "public"."User" WHERE ("public"."User"."id" = %s AND 1=1) LIMIT %s OFFSET %s'
)
USER_BY_EMAIL = (
    'SELECT "public"."User"."id", "public"."User"."email" FROM "public"."User" '
    'WHERE ("public"."User"."email" = %s AND 1=1) LIMIT %s OFFSET %s'
)
PRODUCT_BY_SKU = (
    'SELECT "public"."Product"."id", "public"."Product"."name" FROM "public"."Product" '
    'WHERE ("public"."Product"."sku" = %s AND 1=1) LIMIT %s OFFSET %s'
)
# `order.findMany({ where: { items: { some: { productId } } } })`: Prisma's relation filter, with
# its own alias for the inner table.
ORDERS_WITH_PRODUCT = (
    f'SELECT {order_columns()} FROM "public"."Order" WHERE ("public"."Order"."id") IN '
    '(SELECT "t1"."orderId" FROM "public"."OrderItem" AS "t1" '
    'WHERE ("t1"."productId" = %s AND "t1"."orderId" IS NOT NULL)) OFFSET %s'
)
# A join the planner answers with a hash join over the whole "Order" table.
ORDERS_OF_EMAIL = (
    'SELECT "public"."Order"."id", "public"."Order"."total" FROM "public"."Order" '
    'INNER JOIN "public"."User" AS "j1" ON ("j1"."id") = ("public"."Order"."userId") '
    'WHERE "j1"."email" LIKE %s OFFSET %s'
)
PAGE_COLUMNS = ("id", "productId", "title", "description", "specs", "updatedAt")
# `productPage.findMany({ orderBy: { updatedAt: "desc" }, take: 20 })`: no select, so every
# column, the description and the spec sheet included; tagged as Prisma's sqlcommenter does.
PAGES_FIND_MANY = (
    "SELECT "
    + ", ".join(f'"public"."ProductPage"."{c}"' for c in PAGE_COLUMNS)
    + ' FROM "public"."ProductPage" ORDER BY "public"."ProductPage"."updatedAt" DESC '
    "LIMIT %s OFFSET %s /*prismaQuery='ProductPage.findMany:eyJvcmRlckJ5Ijp7InVwZGF0ZWRBdCI6"
    "ImRlc2MifX0'*/"
)
# The same list with `select: { id: true, title: true }`.
PAGE_TITLES = (
    'SELECT "public"."ProductPage"."id", "public"."ProductPage"."title" '
    'FROM "public"."ProductPage" ORDER BY "public"."ProductPage"."updatedAt" DESC '
    "LIMIT %s OFFSET %s"
)
TAGS_OF_CATEGORY = (
    'SELECT "public"."Tag"."id", "public"."Tag"."label" FROM "public"."Tag" '
    'WHERE "public"."Tag"."categoryId" = %s OFFSET %s'
)


def normalised(query: str) -> str:
    """A workload query as pg_stat_statements shows it: ``$1, $2, ...`` for the bound values
    (literals written in the text, like Prisma's ``1=1``, are numbered too and not covered)."""
    parts = query.split("%s")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


def run_workload(connection, rounds: int = 30) -> None:
    """Each query ``rounds`` times with varying parameters, as the shop's pages would."""
    rng = random.Random(5)
    with connection.cursor() as cur:
        for _ in range(rounds):
            cur.execute(ORDERS_OF_USER, [f"u{rng.randint(1, 20000)}", 20, 0])
            cur.execute(ITEMS_OF_ORDER, [f"o{rng.randint(1, 60000)}", 0])
            cur.execute(ORDERS_BY_STATUS, [rng.choice(["PAID", "SHIPPED"]), 0])
            cur.execute(USER_BY_ID, [f"u{rng.randint(1, 20000)}", 1, 0])
            cur.execute(USER_BY_EMAIL, [f"user{rng.randint(1, 20000)}@example.com", 1, 0])
            cur.execute(PRODUCT_BY_SKU, [f"SKU-{rng.randint(1, 12000)}", 1, 0])
            cur.execute(TAGS_OF_CATEGORY, [f"c{rng.randint(1, 10)}", 0])
            cur.execute(ORDERS_WITH_PRODUCT, [f"p{rng.randint(1, 12000)}", 0])
            cur.execute(ORDERS_OF_EMAIL, [f"user{rng.randint(1, 20000)}@%", 0])
            cur.execute(PAGES_FIND_MANY, [20, rng.randint(0, 100)])
            cur.execute(PAGE_TITLES, [20, rng.randint(0, 100)])


@contextlib.contextmanager
def open_writer(url: str, table: str):
    """Another client in the middle of a write on ``table``: a concurrent build waits for it."""
    connection = psycopg2.connect(url, application_name="shop-api")
    try:
        with connection.cursor() as cur:
            cur.execute(f'UPDATE "{table}" SET "quantity" = "quantity" WHERE "id" = %s', ["i1"])
        yield connection
    finally:
        with contextlib.suppress(psycopg2.Error):
            connection.rollback()
        connection.close()
