-- AlterTable
ALTER TABLE "statuses" ADD COLUMN     "request_hash" TEXT;
