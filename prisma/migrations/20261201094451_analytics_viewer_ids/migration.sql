-- The viewer rollup names viewers by an integer from a per-session dictionary, and the analytics
-- read a status's viewers from an index alone (docs/analytics.md). Rows already rolled up keep
-- their figures: their viewers get ids, then the table is rewritten in key order, as the rollup
-- now writes it.

-- DropIndex
DROP INDEX "status_viewers_status_id_viewed_at_idx";

-- CreateIndex
CREATE INDEX "status_viewers_status_id_viewed_at_viewer_number_idx" ON "status_viewers"("status_id", "viewed_at", "viewer_number");

-- CreateTable
CREATE TABLE "analytics_viewers" (
    "id" SERIAL NOT NULL,
    "session_id" VARCHAR(64) NOT NULL,
    "viewer_number" TEXT NOT NULL,

    CONSTRAINT "analytics_viewers_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "analytics_viewers_session_id_viewer_number_key" ON "analytics_viewers"("session_id", "viewer_number");

-- AddForeignKey
ALTER TABLE "analytics_viewers" ADD CONSTRAINT "analytics_viewers_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing rows: a dictionary entry per viewer, its id in every row.
INSERT INTO "analytics_viewers" ("session_id", "viewer_number")
    SELECT DISTINCT "session_id", "viewer_number" FROM "analytics_viewer_buckets" ORDER BY 1, 2;

ALTER TABLE "analytics_viewer_buckets" ADD COLUMN "viewer_id" INTEGER;

UPDATE "analytics_viewer_buckets" b SET "viewer_id" = d."id"
    FROM "analytics_viewers" d WHERE d."session_id" = b."session_id" AND d."viewer_number" = b."viewer_number";

-- AlterTable
ALTER TABLE "analytics_viewer_buckets" DROP CONSTRAINT "analytics_viewer_buckets_pkey",
DROP COLUMN "viewer_number",
ALTER COLUMN "viewer_id" SET NOT NULL,
ADD CONSTRAINT "analytics_viewer_buckets_pkey" PRIMARY KEY ("session_id", "grain", "bucket", "viewer_id");

CLUSTER "analytics_viewer_buckets" USING "analytics_viewer_buckets_pkey";
