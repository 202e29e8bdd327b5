-- CreateEnum
CREATE TYPE "analytics_grain" AS ENUM ('hour', 'day', 'month');

-- DropIndex
DROP INDEX "status_viewers_session_id_idx";

-- CreateTable
CREATE TABLE "analytics_buckets" (
    "session_id" VARCHAR(64) NOT NULL,
    "grain" "analytics_grain" NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "statuses_by_type" JSONB NOT NULL,
    "statuses" INTEGER NOT NULL,
    "audience" INTEGER NOT NULL,
    "views" INTEGER NOT NULL,
    "unique_viewers" INTEGER NOT NULL,
    "time_to_view" INTEGER[],

    CONSTRAINT "analytics_buckets_pkey" PRIMARY KEY ("session_id","grain","bucket")
);

-- CreateTable
CREATE TABLE "analytics_viewer_buckets" (
    "session_id" VARCHAR(64) NOT NULL,
    "grain" "analytics_grain" NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "viewer_number" TEXT NOT NULL,
    "views" INTEGER NOT NULL,
    "last_viewed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "analytics_viewer_buckets_pkey" PRIMARY KEY ("session_id","grain","bucket","viewer_number")
);

-- CreateTable
CREATE TABLE "analytics_rollup_runs" (
    "day" DATE NOT NULL,
    "watermark" TIMESTAMPTZ(3) NOT NULL,
    "ran_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "analytics_rollup_runs_pkey" PRIMARY KEY ("day")
);

-- CreateIndex
CREATE INDEX "statuses_session_id_sent_at_idx" ON "statuses"("session_id", "sent_at");

-- CreateIndex
CREATE INDEX "status_viewers_session_id_viewed_at_idx" ON "status_viewers"("session_id", "viewed_at");

-- AddForeignKey
ALTER TABLE "analytics_buckets" ADD CONSTRAINT "analytics_buckets_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "analytics_viewer_buckets" ADD CONSTRAINT "analytics_viewer_buckets_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
