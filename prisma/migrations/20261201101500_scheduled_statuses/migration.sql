-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "status_state" ADD VALUE 'scheduled';
ALTER TYPE "status_state" ADD VALUE 'cancelled';

-- AlterTable
ALTER TABLE "statuses" ADD COLUMN     "schedule_version" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "scheduled_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "statuses_state_scheduled_at_idx" ON "statuses"("state", "scheduled_at");
